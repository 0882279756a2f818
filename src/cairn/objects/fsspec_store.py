"""Objects in any fsspec filesystem (``memory://``, ``s3://``, ``file://``…), same layout.

The layout under the URL's path is the local one, ``ab/cdef…``, so a bucket and a local
folder can be copied into each other object by object. Object stores (S3, GCS, Azure,
memory) make an upload visible only once it is complete, so objects are written in place;
on filesystems without that guarantee (SFTP, SMB, a local folder through fsspec) objects are
written under ``tmp/`` first and then moved into place, so no one ever reads half an object.
Optional backends are imported lazily: ``s3://`` without ``s3fs`` names the extra to install.
"""

from __future__ import annotations

import os
import posixpath
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from cairn.errors import InvalidInput, MissingExtra, NotFound
from cairn.objects.base import ObjectStore
from cairn.objects.hashing import hash_bytes, hash_file, hash_stream
from cairn.objects.local import LocalObjectStore
from cairn.objects.oid import check_oid, check_oids, fanout, is_fanout_dir, join_fanout

#: Protocols whose uploads appear all at once, so they need no temporary file.
ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})

#: Protocol -> (module, extra) for the backends cairn ships an extra for.
EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3")}

#: From this many oids on, ``missing`` lists fan-out folders instead of asking per object.
LIST_THRESHOLD = 64


def scheme_of(url: str) -> str:
    """``s3`` for ``s3://bucket/x``; empty for a plain path."""
    return url.split("://", 1)[0].lower() if "://" in url else ""


def require_backend(url: str) -> str:
    """The URL's scheme, once the library its backend needs is known to be installed."""
    scheme = scheme_of(url)
    if scheme in EXTRAS:
        module, extra = EXTRAS[scheme]
        try:
            __import__(module)
        except ImportError as exc:
            raise MissingExtra(module, extra) from exc
    return scheme


class FsspecObjectStore:
    """The ``ObjectStore`` of an fsspec URL; ``storage_options`` go to the filesystem."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        require_backend(url)
        try:
            from fsspec.core import url_to_fs

            fs, path = url_to_fs(url, **storage_options)
        except ImportError as exc:
            raise InvalidInput(f"cannot open {url}: {exc}") from exc
        except ValueError as exc:
            raise InvalidInput(f"not a usable object store URL: {url} ({exc})") from exc
        self.url = url
        self.fs: Any = fs
        self.root: str = str(path).rstrip("/")
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        self.atomic_put = any(p in ATOMIC_PUT for p in protocols)

    def __repr__(self) -> str:
        return f"FsspecObjectStore({self.url!r})"

    def path_for(self, oid: str) -> str:
        folder, name = fanout(oid)
        return f"{self.root}/{folder}/{name}"

    def _not_found(self, oid: str) -> NotFound:
        return NotFound(f"object {oid} is not in the store at {self.url}")

    # -- writing ---------------------------------------------------------------------------
    def _upload(self, oid: str, send: Any) -> None:
        """Call ``send(remote_path)``; through ``tmp/`` and a move where uploads are not atomic."""
        final = self.path_for(oid)
        target = final if self.atomic_put else f"{self.root}/tmp/{uuid.uuid4().hex}"
        try:
            self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
            send(target)
            if target != final:
                self.fs.makedirs(posixpath.dirname(final), exist_ok=True)
                self.fs.mv(target, final)
        except BaseException:
            try:
                if self.fs.exists(target):
                    self.fs.rm(target)
            except Exception:
                pass
            raise

    def put_bytes(self, data: bytes) -> str:
        oid = hash_bytes(data)
        if not self.has(oid):
            self._upload(oid, lambda target: self.fs.pipe_file(target, bytes(data)))
        return oid

    def put_file(self, path: Path, oid: str | None = None) -> str:
        if not os.path.isfile(path):
            if os.path.exists(path):
                raise InvalidInput(f"not a regular file: {path}")
            raise NotFound(f"no such file: {path}")
        digest = check_oid(oid) if oid is not None else hash_file(path)
        if not self.has(digest):
            self._upload(digest, lambda target: self.fs.put_file(os.fspath(path), target))
        return digest

    # -- reading ---------------------------------------------------------------------------
    def has(self, oid: str) -> bool:
        return bool(self.fs.exists(self.path_for(oid)))

    def missing(self, oids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(oids))
        check_oids(wanted)
        if len(wanted) < LIST_THRESHOLD:
            return [oid for oid in wanted if not self.has(oid)]
        present: set[str] = set()
        for folder in sorted({oid[:2] for oid in wanted}):
            present.update(folder + name for name in self._names(f"{self.root}/{folder}"))
        return [oid for oid in wanted if oid not in present]

    def _names(self, path: str) -> list[str]:
        """Base names in a folder, fresh (not from fsspec's listing cache); [] when absent."""
        self.fs.invalidate_cache(path)
        try:
            listed = self.fs.ls(path, detail=False)
        except FileNotFoundError:
            return []
        return [posixpath.basename(str(p).rstrip("/")) for p in listed]

    def open(self, oid: str) -> BinaryIO:
        try:
            return cast(BinaryIO, self.fs.open(self.path_for(oid), "rb"))
        except FileNotFoundError as exc:
            raise self._not_found(oid) from exc

    def get_bytes(self, oid: str) -> bytes:
        try:
            return bytes(self.fs.cat_file(self.path_for(oid)))
        except FileNotFoundError as exc:
            raise self._not_found(oid) from exc

    def size(self, oid: str) -> int:
        try:
            return int(self.fs.size(self.path_for(oid)))
        except FileNotFoundError as exc:
            raise self._not_found(oid) from exc

    def iter_oids(self) -> Iterator[str]:
        for folder in sorted(n for n in self._names(self.root) if is_fanout_dir(n)):
            for name in sorted(self._names(f"{self.root}/{folder}")):
                oid = join_fanout(folder, name)
                if oid is not None:
                    yield oid

    def verify(self, oid: str) -> bool:
        with self.open(oid) as f:
            return hash_stream(f) == oid

    def delete(self, oid: str) -> None:
        try:
            self.fs.rm(self.path_for(oid))
        except FileNotFoundError as exc:
            raise self._not_found(oid) from exc


def open_object_store(url_or_path: str | os.PathLike[str]) -> ObjectStore:
    """A local store for a path or ``file://`` URL, an fsspec store for any other URL."""
    if isinstance(url_or_path, os.PathLike):
        return LocalObjectStore(Path(url_or_path))
    scheme = scheme_of(url_or_path)
    if not scheme:
        return LocalObjectStore(Path(url_or_path))
    if scheme == "file":
        return LocalObjectStore(Path(url_or_path.split("://", 1)[1]))
    return FsspecObjectStore(url_or_path)
