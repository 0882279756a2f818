"""BLAKE3 hashing of bytes, files and streams."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import blake3
import pytest

from cairn.objects.hashing import CHUNK_SIZE, SMALL_FILE, hash_bytes, hash_file, hash_stream
from cairn.objects.oid import EMPTY_OID, check_oid, fanout, is_oid


def test_hash_bytes_is_blake3_hex() -> None:
    assert hash_bytes(b"abc") == blake3.blake3(b"abc").hexdigest()
    assert hash_bytes(b"") == EMPTY_OID
    big = os.urandom(SMALL_FILE + 1)
    assert hash_bytes(big) == blake3.blake3(big).hexdigest()
    assert hash_bytes(memoryview(big)) == hash_bytes(bytearray(big))


@pytest.mark.parametrize(
    "size", [0, 1, 4096, SMALL_FILE, SMALL_FILE + 1, CHUNK_SIZE, 2 * CHUNK_SIZE + 5]
)
def test_hash_file_matches_the_bytes(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    assert hash_file(path) == blake3.blake3(data).hexdigest()
    with open(path, "rb") as f:
        assert hash_stream(f) == hash_file(path)


def test_hash_stream_reads_whatever_remains() -> None:
    stream = io.BytesIO(b"skip-this|keep this")
    stream.read(10)
    assert hash_stream(stream) == hash_bytes(b"keep this")


def test_files_that_report_size_zero_are_still_read(tmp_path: Path) -> None:
    # /proc files say 0 bytes but have content: trusting st_size would hash them as empty.
    proc = Path("/proc/self/cmdline")
    if not proc.exists():
        pytest.skip("no /proc here")
    assert hash_file(proc) != EMPTY_OID


def test_memory_stays_flat_on_a_large_file(tmp_path: Path) -> None:
    SIZE = 512 * 1024 * 1024
    """A 512 MiB (sparse) file is hashed with a small, fixed buffer, never read whole."""
    big = tmp_path / "sparse.bin"
    with open(big, "wb") as f:
        f.truncate(SIZE)
    # VmHWM (peak RSS of this address space) rather than ru_maxrss, which Linux carries over
    # from the parent across fork and exec: a large pytest process would inflate it.
    script = textwrap.dedent(f"""
        from cairn.objects.hashing import hash_file
        oid = hash_file({str(big)!r})
        peak = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
        print(oid, peak.split()[1])
    """)
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    expected = blake3.blake3(max_threads=blake3.blake3.AUTO)
    zeros = bytes(CHUNK_SIZE)
    for _ in range(SIZE // CHUNK_SIZE):
        expected.update(zeros)
    assert out[0] == expected.hexdigest()
    max_rss_mib = int(out[1]) / 1024
    assert max_rss_mib < 150  # reading it whole would take over 512


def test_oid_helpers() -> None:
    oid = hash_bytes(b"x")
    assert is_oid(oid)
    assert fanout(oid) == (oid[:2], oid[2:])
    assert check_oid(oid) == oid
    assert not is_oid(oid.upper())
    assert not is_oid(oid[:-1])
    assert not is_oid(None)
