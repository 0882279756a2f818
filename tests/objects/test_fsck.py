"""fsck names every corrupt object and every object a tree needs but the store lacks."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cairn.objects.base import ObjectStore
from cairn.objects.fsck import fsck
from cairn.objects.fsspec_store import FsspecObjectStore
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import TREE_MAGIC, read_tree, snapshot_dir

Write = Callable[..., Path]


def overwrite(store: ObjectStore, oid: str, data: bytes) -> None:
    """Damage a stored object behind the store's back, as a bad disk or a hand edit would."""
    if isinstance(store, LocalObjectStore):
        path = store.path_for(oid)
        path.chmod(0o644)
        path.write_bytes(data)
        path.chmod(0o444)
    else:
        assert isinstance(store, FsspecObjectStore)
        store.fs.pipe_file(store.path_for(oid), data)


def flip_one_byte(store: ObjectStore, oid: str) -> None:
    data = bytearray(store.get_bytes(oid))
    data[len(data) // 2] ^= 0x01
    overwrite(store, oid, bytes(data))


def project(tmp_path: Path, write: Write) -> Path:
    src = tmp_path / "src"
    for i in range(6):
        write(src / f"part{i % 2}" / f"f{i}.bin", os.urandom(500 + i))
    return src


def test_a_healthy_store_is_ok(store: ObjectStore, tmp_path: Path, write: Write) -> None:
    snapshot_dir(store, project(tmp_path, write))
    calls: list[tuple[int, int]] = []
    report = fsck(store, progress=lambda done, total: calls.append((done, total)))
    assert report.ok
    assert report.checked == 7  # six blobs and one tree
    assert report.trees == 1
    assert (report.corrupt, report.missing) == ([], [])
    assert calls[-1] == (7, 7)


def test_one_flipped_byte_is_reported_as_corrupt(
    store: ObjectStore, tmp_path: Path, write: Write
) -> None:
    ref = snapshot_dir(store, project(tmp_path, write))
    victim = read_tree(store, ref.oid).entries[2].oid
    flip_one_byte(store, victim)
    report = fsck(store)
    assert report.corrupt == [victim]
    assert report.missing == []
    assert not report.ok


def test_a_blob_missing_from_a_tree_is_reported(
    store: ObjectStore, tmp_path: Path, write: Write
) -> None:
    ref = snapshot_dir(store, project(tmp_path, write))
    gone = read_tree(store, ref.oid).entries[4].oid
    store.delete(gone)
    report = fsck(store)
    assert report.missing == [gone]
    assert report.corrupt == []
    assert report.checked == 6


def test_a_damaged_tree_is_corrupt_and_not_followed(
    store: ObjectStore, tmp_path: Path, write: Write
) -> None:
    ref = snapshot_dir(store, project(tmp_path, write))
    store.delete(read_tree(store, ref.oid).entries[0].oid)
    flip_one_byte(store, ref.oid)
    report = fsck(store)
    assert report.corrupt == [ref.oid]
    assert report.missing == []  # a damaged tree's entries cannot be trusted


def test_a_tree_that_hashes_right_but_does_not_parse_is_corrupt(store: ObjectStore) -> None:
    bad = store.put_bytes(TREE_MAGIC + b"1,]")
    assert fsck(store).corrupt == [bad]
