"""Objects in a local folder: ``<root>/ab/cdef…``, written atomically and kept read-only.

Every write goes to a temporary file under ``<root>/tmp/`` (same filesystem, so the final
``os.replace`` is atomic), is fsynced, made read-only (0o444) and only then renamed into
place: a reader never sees half an object, and a crash leaves at most a stray file in
``tmp/``, never a wrong object. Bytes that are already stored are not written again. Copies
use a reflink (``FICLONE``) where the filesystem has them, then ``copy_file_range``, then
plain reads and writes.

A full disk is a ``StoreFull`` (HTTP 507), never a bare ``OSError``, and leaves nothing behind.
Temporary files of writers that died are removed by ``remove_stale_temporaries``.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from cairn.errors import Conflict, InvalidInput, NotFound, StoreFull
from cairn.objects.hashing import CHUNK_SIZE, hash_bytes, hash_fd, hash_file
from cairn.objects.oid import check_oid, check_oids, fanout, is_fanout_dir, join_fanout

FICLONE = 0x40049409  # _IOW(0x94, 9, int) on Linux
READ_ONLY = 0o444
TMP_DIR = "tmp"
#: A temporary file untouched this long belongs to a writer that died (housekeeping age).
STALE_TEMP_AGE_S = 3600.0
_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _sync_filesystem(folder: Path) -> None:
    """Make everything written to ``folder``'s file system durable: Linux ``syncfs``, else a
    global ``sync``."""
    import ctypes

    fd = os.open(folder, os.O_RDONLY | _O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = getattr(libc, "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def clone_or_copy(src_fd: int, dst_fd: int, *, clone: bool = True) -> int:
    """Copy all of ``src_fd`` into the empty ``dst_fd``; return the bytes copied.

    A reflink shares the extents (instant, no extra space) and, unlike a hard link, leaves
    two independent files: changing one never changes the other.
    """
    if clone:
        try:
            import fcntl

            fcntl.ioctl(dst_fd, FICLONE, src_fd)
            return os.fstat(dst_fd).st_size
        except (OSError, ImportError):
            pass
    copied = 0
    if hasattr(os, "copy_file_range"):
        try:
            while n := os.copy_file_range(src_fd, dst_fd, 1 << 30, copied, copied):
                copied += n
            return copied
        except OSError as exc:
            if copied or exc.errno not in _NO_COPY_RANGE:
                raise
    while chunk := os.pread(src_fd, CHUNK_SIZE, copied):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst_fd, view) :]
        copied += len(chunk)
    return copied


_NO_COPY_RANGE = {
    errno.EXDEV,
    errno.ENOSYS,
    errno.EINVAL,
    errno.EOPNOTSUPP,
    errno.EPERM,
    errno.EBADF,
}


def copy_stream(src: BinaryIO, dst_fd: int, *, clone: bool = True) -> int:
    """Copy an open reader into ``dst_fd``, by fd (reflink-capable) when it has one."""
    try:
        src_fd = src.fileno()
    except (OSError, ValueError, AttributeError):
        src_fd = -1
    if src_fd >= 0:
        return clone_or_copy(src_fd, dst_fd, clone=clone)
    copied = 0
    while chunk := src.read(CHUNK_SIZE):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst_fd, view) :]
        copied += len(chunk)
    return copied


class LocalObjectStore:
    """The ``ObjectStore`` of a local folder (``.cairn/objects``); created on first write."""

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.fsync = fsync
        self._prefix = os.fspath(self.root) + os.sep
        self._pending: dict[str, str] | None = None  # final path -> sealed temporary file

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Store many objects with two file-system syncs instead of one fsync each.

        Inside a batch, objects are written to sealed temporary files; at the end the whole
        file system is synced once, then every object is renamed into place and the renames
        are synced. An object therefore never becomes visible before its bytes are durable,
        and 20,000 small files cost two syncs, not 20,000. A failed batch leaves nothing.
        """
        if self._pending is not None:  # nested: the outer batch commits
            yield
            return
        self._pending = {}
        try:
            yield
            self._commit()
        except BaseException:
            for tmp in self._pending.values():
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            raise
        finally:
            self._pending = None

    def _commit(self) -> None:
        pending = self._pending or {}
        if not pending:
            return
        if self.fsync:
            _sync_filesystem(self.root)
        for final, tmp in pending.items():
            try:
                os.replace(tmp, final)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(tmp, final)
        if self.fsync:
            _sync_filesystem(self.root)
        pending.clear()

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    def path_for(self, oid: str) -> Path:
        """Where ``oid`` lives (whether or not it is there)."""
        return Path(self._path(oid))

    def _path(self, oid: str) -> str:
        # Plain strings: pathlib costs more than the stat on the hot paths.
        folder, name = fanout(oid)
        return f"{self._prefix}{folder}{os.sep}{name}"

    # -- writing ---------------------------------------------------------------------------
    def _tmp(self) -> tuple[int, str]:
        path = f"{self._prefix}{TMP_DIR}{os.sep}{uuid.uuid4().hex}"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC
        try:
            try:
                fd = os.open(path, flags, 0o600)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, flags, 0o600)
        except OSError as exc:
            if exc.errno in _FULL:
                raise self._full(exc) from exc
            raise
        return fd, path

    def remove_stale_temporaries(self, older_than_s: float = STALE_TEMP_AGE_S) -> tuple[int, int]:
        """Remove files in ``tmp/`` not modified for ``older_than_s``; (files, bytes) removed.

        A writer that is killed (a cairn process, a server mid-upload) leaves its temporary
        file behind, possibly hundreds of megabytes. A live writer keeps its file fresh, and a
        batch's sealed files wait minutes at most, so an hour-old file has no owner left.
        """
        folder = f"{self._prefix}{TMP_DIR}"
        cutoff = time.time() - older_than_s
        files = size = 0
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return 0, 0
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode) or info.st_mtime > cutoff:
                    continue
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            files += 1
            size += info.st_size
        return files, size

    def _write_object(self, oid: str, write: Callable[[int], None]) -> None:
        """Have ``write`` fill a temporary file, then seal it and move it into place."""
        fd, tmp = self._tmp()
        try:
            try:
                write(fd)
                os.fchmod(fd, READ_ONLY)
                if self.fsync and self._pending is None:
                    os.fsync(fd)
            finally:
                os.close(fd)
            final = self._path(oid)
            if self._pending is not None:
                self._pending[final] = tmp  # renamed once the batch's bytes are durable
                return
            try:
                os.replace(tmp, final)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(final), exist_ok=True)
                os.replace(tmp, final)
        except BaseException as exc:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            if isinstance(exc, OSError) and exc.errno in _FULL:
                raise self._full(exc) from exc
            raise

    def _full(self, exc: OSError) -> StoreFull:
        return StoreFull(f"there is no space left on the disk holding {self.root} "
                         f"({exc.strerror}); nothing was stored",
                         hint="free some space and try again")

    def put_bytes(self, data: bytes) -> str:
        oid = hash_bytes(data)
        if self.has(oid):
            return oid

        def write(fd: int) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]

        self._write_object(oid, write)
        return oid

    def put_file(self, path: Path, oid: str | None = None) -> str:
        try:
            # O_NONBLOCK: a FIFO passed by mistake is refused below instead of hanging here.
            src = os.open(path, os.O_RDONLY | _O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError as exc:
            raise NotFound(f"no such file: {path}") from exc
        try:
            before = os.fstat(src)
            if not stat.S_ISREG(before.st_mode):
                raise InvalidInput(f"not a regular file: {path}")
            digest = check_oid(oid) if oid is not None else hash_fd(src)
            if self.has(digest):
                return digest

            def write(fd: int) -> None:
                copied = clone_or_copy(src, fd)
                after = os.fstat(src)
                changed = (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns)
                if copied != after.st_size or (oid is None and changed):
                    raise Conflict(f"{path} changed while it was being stored; try again")

            self._write_object(digest, write)
            return digest
        finally:
            os.close(src)

    # -- reading ---------------------------------------------------------------------------
    def has(self, oid: str) -> bool:
        path = self._path(oid)
        return os.path.exists(path) or (self._pending is not None and path in self._pending)

    def _readable(self, oid: str) -> str:
        """The file holding ``oid``'s bytes: in place, or still pending in a batch."""
        path = self._path(oid)
        if self._pending is not None and path in self._pending:
            return self._pending[path]
        return path

    def missing(self, oids: list[str]) -> list[str]:
        wanted = list(dict.fromkeys(oids))
        check_oids(wanted)
        if len(wanted) < 256:
            return [oid for oid in wanted if not self.has(oid)]
        # One listdir per fan-out folder beats one stat per object for large batches.
        present: dict[str, set[str]] = {}
        for folder in {oid[:2] for oid in wanted}:
            try:
                present[folder] = set(os.listdir(self.root / folder))
            except FileNotFoundError:
                present[folder] = set()
        return [oid for oid in wanted if oid[2:] not in present[oid[:2]]]

    def open(self, oid: str) -> BinaryIO:
        try:
            return open(self._readable(oid), "rb")
        except FileNotFoundError as exc:
            raise NotFound(f"object {oid} is not in the store at {self.root}") from exc

    def get_bytes(self, oid: str) -> bytes:
        with self.open(oid) as f:
            return f.read()

    def size(self, oid: str) -> int:
        try:
            return os.stat(self._readable(oid)).st_size
        except FileNotFoundError as exc:
            raise NotFound(f"object {oid} is not in the store at {self.root}") from exc

    def iter_oids(self) -> Iterator[str]:
        try:
            folders = sorted(e.name for e in os.scandir(self.root) if is_fanout_dir(e.name))
        except FileNotFoundError:
            return
        for folder in folders:
            try:
                names = sorted(os.listdir(self.root / folder))
            except FileNotFoundError:
                continue
            for name in names:
                oid = join_fanout(folder, name)
                if oid is not None:
                    yield oid

    def verify(self, oid: str) -> bool:
        try:
            return hash_file(self._path(oid)) == oid
        except FileNotFoundError as exc:
            raise NotFound(f"object {oid} is not in the store at {self.root}") from exc

    def delete(self, oid: str) -> None:
        try:
            os.unlink(self._path(oid))
        except FileNotFoundError as exc:
            raise NotFound(f"object {oid} is not in the store at {self.root}") from exc
