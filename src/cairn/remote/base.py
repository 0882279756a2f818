"""What push and pull need from a remote, whether a cairn server or a bucket.

Both kinds speak the same steps: which objects are missing, send or fetch one object, send or
fetch a run's bundle (always last when sending), and find the run a reference names.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import blake3

from cairn.errors import Corrupt
from cairn.objects.local import LocalObjectStore
from cairn.remote.config import token_for
from cairn.settings import RemoteSpec


class Remote(Protocol):
    name: str
    url: str

    def missing(self, oids: list[str]) -> list[str]:
        """The subset of ``oids`` the remote lacks."""

    def put_object(self, oid: str, local: LocalObjectStore) -> int:
        """Send one object from ``local``; return the bytes sent."""

    def get_object(self, oid: str, local: LocalObjectStore) -> int:
        """Fetch one object into ``local`` (hash verified); return the bytes received."""

    def put_bundle(self, run_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Store the run (after all its objects); the answer may carry the remote's number."""

    def get_bundle(self, run_id: str) -> dict[str, Any]: ...

    def resolve(self, ref: str) -> dict[str, Any]:
        """``{"id", "number", "name"}`` of the run ``ref`` names on the remote."""

    def close(self) -> None: ...


def open_remote(spec: RemoteSpec) -> Remote:
    if spec.is_http:
        from cairn.remote.http import HttpRemote

        return HttpRemote(spec.name, spec.url, token=token_for(spec.url))
    from cairn.remote.bucket import BucketRemote

    return BucketRemote(spec.name, spec.url, **spec.options)


def store_verified(local: LocalObjectStore, oid: str, chunks: Iterable[bytes]) -> int:
    """Write ``chunks`` to a temporary file, check they hash to ``oid``, then store them.

    Nothing enters the store unless its bytes match its name, whatever the remote sent.
    """
    folder = local.root / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"fetch-{uuid.uuid4().hex}"
    hasher = blake3.blake3()
    size = 0
    try:
        with open(tmp, "wb") as fh:
            for chunk in chunks:
                hasher.update(chunk)
                fh.write(chunk)
                size += len(chunk)
        if hasher.hexdigest() != oid:
            raise Corrupt(f"object {oid} arrived with other bytes (they hash to "
                          f"{hasher.hexdigest()}); it was not stored")
        local.put_file(Path(tmp), oid)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def file_chunks(path: Path, size: int = 1024 * 1024) -> Iterable[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def object_size(local: LocalObjectStore, oid: str) -> int:
    return os.stat(local.path_for(oid)).st_size
