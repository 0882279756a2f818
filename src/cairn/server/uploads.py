"""Receiving request bodies in constant memory, and checking the paths clients send.

An upload goes chunk by chunk into a temporary file next to the object store (same
filesystem) while it is hashed, so a 5 GiB object costs one buffer of memory. The HTTP guard
refuses a body over the server's ``max_upload`` with 413 as soon as its declared length or its
running size shows it (reading then raises ``TooLarge``); a body whose hash is not the oid it
claims is refused with 400; in both cases nothing is stored and the temporary file is
removed. A full disk is ``StoreFull`` (507), not a 500.

While it is written, an upload's file is locked (``flock``); a server killed mid-upload
releases the lock, so ``remove_abandoned_uploads`` at start-up can tell its leftovers from the
uploads other workers are still receiving.
"""

from __future__ import annotations

import contextlib
import errno
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import blake3
from fastapi import Request

from cairn.errors import InvalidInput, StoreFull

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
UPLOAD_PREFIX = "upload-"


@dataclass(frozen=True)
class Received:
    path: Path
    oid: str
    size: int


async def receive_body(request: Request, folder: Path) -> Received:
    """Stream the body into a new file under ``folder``; the caller removes or keeps it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{UPLOAD_PREFIX}{uuid.uuid4().hex}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     0o600)
    except OSError as exc:
        if exc.errno in _FULL:
            raise _full(exc, folder) from exc
        raise
    _lock(fd)
    hasher = blake3.blake3()
    size = 0
    try:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except BaseException as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _FULL:
            raise _full(exc, folder) from exc
        raise
    return Received(path=path, oid=hasher.hexdigest(), size=size)


def _full(exc: OSError, folder: Path) -> StoreFull:
    return StoreFull(f"this server has no space left for the upload ({exc.strerror}); "
                     "nothing was stored", hint=f"free space on the disk holding {folder}")


def _lock(fd: int, *, wait: bool = True) -> bool:
    """Lock an upload's file for as long as ``fd`` is open; False when another holds it."""
    try:
        import fcntl
    except ImportError:  # no flock here: start-up then removes every leftover upload
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def remove_abandoned_uploads(folder: Path) -> tuple[int, int]:
    """Remove the uploads no living process is writing; (files, bytes) removed.

    Called when a server starts: a server killed mid-upload leaves a partial file (hundreds of
    megabytes, perhaps) that nothing else would ever remove.
    """
    files = size = 0
    try:
        names = [n for n in os.listdir(folder) if n.startswith(UPLOAD_PREFIX)]
    except FileNotFoundError:
        return 0, 0
    for name in names:
        path = folder / name
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if not _lock(fd, wait=False):
                continue  # another worker is receiving it right now
            with contextlib.suppress(FileNotFoundError):
                length = os.fstat(fd).st_size
                path.unlink()
                files += 1
                size += length
        finally:
            os.close(fd)
    return files, size


def safe_rel_path(raw: str, what: str = "path") -> str:
    """``raw`` as a clean relative path, or ``InvalidInput`` when it could leave its folder."""
    text = raw.replace("\\", "/")
    if not text or text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise InvalidInput(f"the {what} {raw!r} must be relative (like plots/roc.png)")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts) or "\0" in text:
        raise InvalidInput(f"the {what} {raw!r} may not contain '..'; it must stay inside its "
                           "run's folder")
    return "/".join(parts)
