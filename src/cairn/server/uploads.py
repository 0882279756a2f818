"""Receiving request bodies in constant memory, and checking the paths clients send.

An upload goes chunk by chunk into a temporary file next to the object store (same
filesystem) while it is hashed, so a 5 GiB object costs one buffer of memory. A body over
the limit is refused with 413 as soon as its declared length or its running size shows it;
a body whose hash is not the oid it claims is refused with 400; in both cases nothing is
stored and the temporary file is removed.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import blake3
from fastapi import Request

from cairn.errors import InvalidInput
from cairn.server.errors import TooLarge


@dataclass(frozen=True)
class Received:
    path: Path
    oid: str
    size: int


def _size_text(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def check_declared_size(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise InvalidInput(f"Content-Length {declared!r} is not a number") from None
    if size > limit:
        raise TooLarge(f"the upload is {_size_text(size)}; this server takes at most "
                       f"{_size_text(limit)} per object")


async def receive_body(request: Request, folder: Path, limit: int) -> Received:
    """Stream the body into a new file under ``folder``; the caller removes or keeps it."""
    check_declared_size(request, limit)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"upload-{uuid.uuid4().hex}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    hasher = blake3.blake3()
    size = 0
    try:
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload is over this server's limit of "
                                   f"{_size_text(limit)} per object")
                hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(path=path, oid=hasher.hexdigest(), size=size)


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
