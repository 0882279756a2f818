"""BLAKE3 hashing of bytes, files and streams, in constant memory.

Files are read with ``readinto`` into one reusable 16 MiB buffer and fed to a multithreaded
BLAKE3 hasher. Memory mapping (``blake3.update_mmap``) would be faster still, but a file that
another process truncates while it is mapped kills the reader with SIGBUS, and cairn hashes
files that training scripts may still be writing. Buffered reads measured about 4 GB/s on a
1 GB file in the page cache on the 2-core reference machine, four times the 1 GB/s target.
Small files are read in one call and hashed on one thread, which is cheaper than spinning up
the thread pool.
"""

from __future__ import annotations

import os
from typing import BinaryIO

import blake3

from cairn.objects.oid import EMPTY_OID

#: Size of the reusable read buffer; larger buffers gained nothing measurable.
CHUNK_SIZE = 16 * 1024 * 1024

#: Files up to this size are read in one call and hashed single-threaded.
SMALL_FILE = 1024 * 1024

Buffer = bytes | bytearray | memoryview


def hash_bytes(data: Buffer) -> str:
    """The oid of ``data``."""
    if len(data) >= SMALL_FILE:
        return blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()
    return blake3.blake3(data).hexdigest()


def hash_fd(fd: int) -> str:
    """The oid of everything readable from ``fd``, from its start, however large."""
    size = os.fstat(fd).st_size
    if size == 0:
        # Still read: a size of 0 is also what /proc files and pipes report.
        return EMPTY_OID if not os.pread(fd, 1, 0) else _hash_from(fd)
    if size <= SMALL_FILE:
        data = os.pread(fd, size + 1, 0)
        if len(data) <= size:
            return blake3.blake3(data).hexdigest()
    return _hash_from(fd)


def _hash_from(fd: int) -> str:
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    buf = bytearray(CHUNK_SIZE)
    view = memoryview(buf)
    offset = 0
    while True:
        n = os.preadv(fd, [buf], offset)
        if n == 0:
            break
        hasher.update(view[:n])
        offset += n
    return hasher.hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    """The oid of a file's bytes, streamed in constant memory (an empty file works too)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        return hash_fd(fd)
    finally:
        os.close(fd)


def hash_stream(stream: BinaryIO) -> str:
    """The oid of what remains in ``stream`` (a remote file, a socket body…)."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    while chunk := stream.read(CHUNK_SIZE):
        hasher.update(chunk)
    return hasher.hexdigest()
