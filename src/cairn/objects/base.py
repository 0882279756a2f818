"""The object-store interface: immutable blobs named by the BLAKE3 hex of their bytes.

Implementations: ``local.LocalObjectStore`` (``.cairn/objects/ab/cdef…``) and
``remote.FsspecObjectStore`` (any fsspec URL: ``memory://``, ``file://``, ``s3://``). Both
pass the same contract suite in ``tests/objects/test_contract.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

OID_HEX_LEN = 64


@runtime_checkable
class ObjectStore(Protocol):
    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its oid. Storing existing bytes again writes nothing."""

    def put_file(self, path: Path, oid: str | None = None) -> str:
        """Store a file's bytes (streamed, constant memory); ``oid`` skips rehashing."""

    def has(self, oid: str) -> bool: ...

    def missing(self, oids: list[str]) -> list[str]:
        """The subset of ``oids`` not present (one round trip where the backend allows)."""

    def open(self, oid: str) -> BinaryIO:
        """A binary reader; raises ``NotFound`` for an unknown oid."""

    def get_bytes(self, oid: str) -> bytes: ...

    def size(self, oid: str) -> int: ...

    def iter_oids(self) -> Iterator[str]: ...

    def verify(self, oid: str) -> bool:
        """Rehash the stored bytes; ``False`` when they no longer match the oid."""

    def delete(self, oid: str) -> None: ...
