"""What the local store promises beyond the contract: layout, read-only blobs, atomic writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cairn.objects.local import LocalObjectStore, clone_or_copy


def test_objects_fan_out_under_two_hex_characters(local_store: LocalObjectStore) -> None:
    oid = local_store.put_bytes(b"layout")
    path = local_store.root / oid[:2] / oid[2:]
    assert path.is_file()
    assert path.read_bytes() == b"layout"
    assert local_store.path_for(oid) == path


def test_blobs_are_read_only(local_store: LocalObjectStore, tmp_path: Path) -> None:
    src = tmp_path / "f.txt"
    src.write_text("data")
    for oid in (local_store.put_bytes(b"bytes"), local_store.put_file(src)):
        assert stat.S_IMODE(local_store.path_for(oid).stat().st_mode) == 0o444


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write to read-only files")
def test_a_blob_cannot_be_opened_for_writing(local_store: LocalObjectStore) -> None:
    oid = local_store.put_bytes(b"locked")
    with pytest.raises(PermissionError):
        open(local_store.path_for(oid), "ab")  # noqa: SIM115


def test_existing_bytes_are_not_written_again(
    local_store: LocalObjectStore, tmp_path: Path
) -> None:
    oid = local_store.put_bytes(b"once")
    before = local_store.path_for(oid).stat()
    src = tmp_path / "same"
    src.write_bytes(b"once")
    assert local_store.put_bytes(b"once") == oid
    assert local_store.put_file(src) == oid
    after = local_store.path_for(oid).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [p.name for p in (local_store.root / oid[:2]).iterdir()] == [oid[2:]]


def test_no_temporary_files_are_left(local_store: LocalObjectStore, tmp_path: Path) -> None:
    for i in range(20):
        local_store.put_bytes(f"blob {i}".encode())
        src = tmp_path / f"file{i}"
        src.write_bytes(os.urandom(1000 + i))
        local_store.put_file(src)
    assert list((local_store.root / "tmp").iterdir()) == []
    assert len(list(local_store.iter_oids())) == 40


def test_a_failed_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    """A file too large to write (file-size limit, like a full disk) leaves no object or tmp."""
    root = tmp_path / "objects"
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(4 * 1024 * 1024))
    script = textwrap.dedent(f"""
        import resource, signal
        from pathlib import Path
        from cairn.objects.local import LocalObjectStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, resource.RLIM_INFINITY))
        try:
            LocalObjectStore(Path({str(root)!r})).put_file(Path({str(src)!r}))
        except OSError as exc:
            print("failed:", exc.errno)
        else:
            print("stored")
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("failed:"), done.stdout + done.stderr
    store = LocalObjectStore(root)
    assert list(store.iter_oids()) == []
    assert list((root / "tmp").iterdir()) == []


def test_stray_files_are_not_objects(local_store: LocalObjectStore) -> None:
    oid = local_store.put_bytes(b"real")
    (local_store.root / "README").write_text("not an object")
    (local_store.root / oid[:2] / "notes.txt").write_text("not an object either")
    (local_store.root / "zz").mkdir()
    (local_store.root / "tmp" / "leftover").write_text("partial")
    assert list(local_store.iter_oids()) == [oid]


def test_reading_an_absent_store_creates_nothing(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "never")
    assert list(store.iter_oids()) == []
    assert store.missing(["0" * 64]) == ["0" * 64]
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("clone", [True, False])
def test_clone_or_copy_copies_every_byte(tmp_path: Path, clone: bool) -> None:
    data = os.urandom(5 * 1024 * 1024 + 3)
    (tmp_path / "src").write_bytes(data)
    src = os.open(tmp_path / "src", os.O_RDONLY)
    dst = os.open(tmp_path / "dst", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.read(src, 100)  # the copy must not depend on the reader's position
        assert clone_or_copy(src, dst, clone=clone) == len(data)
    finally:
        os.close(src)
        os.close(dst)
    assert (tmp_path / "dst").read_bytes() == data


def test_a_batch_shows_objects_only_once_committed(tmp_path: Path) -> None:
    from cairn.objects.hashing import hash_bytes
    from cairn.objects.local import LocalObjectStore

    store = LocalObjectStore(tmp_path / "objects")
    oid = hash_bytes(b"batched bytes")
    with store.batch():
        assert store.put_bytes(b"batched bytes") == oid
        assert store.has(oid) and store.get_bytes(oid) == b"batched bytes"
        assert not store.path_for(oid).exists()  # not in place before the sync
    assert store.path_for(oid).exists() and store.verify(oid)
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_a_failed_batch_leaves_nothing(tmp_path: Path) -> None:
    from cairn.objects.local import LocalObjectStore

    store = LocalObjectStore(tmp_path / "objects")
    with pytest.raises(RuntimeError), store.batch():
        oid = store.put_bytes(b"never committed")
        raise RuntimeError("interrupted")
    assert not store.has(oid)
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
