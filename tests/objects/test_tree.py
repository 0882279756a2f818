"""Tree manifests: snapshots of folders, their canonical form, and safe restores."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.errors import Conflict, Corrupt, InvalidInput, NotFound
from cairn.objects.base import ObjectStore
from cairn.objects.hashing import hash_bytes
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import (
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    TREE_MAGIC,
    Tree,
    TreeEntry,
    TreeRef,
    read_tree,
    restore_tree,
    snapshot_dir,
    snapshot_path,
    snapshot_paths,
)

Write = Callable[..., Path]


def files_under(root: Path) -> dict[str, bytes | str]:
    """Every file (bytes) and link (target) under ``root`` by relative path."""
    found: dict[str, bytes | str] = {}
    for folder, dirs, names in os.walk(root):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, root)
            found[rel] = os.readlink(full) if os.path.islink(full) else Path(full).read_bytes()
    return found


def make_project(root: Path, write: Write) -> None:
    write(root / "train.py", "print('hi')\n")
    write(root / "run.sh", "#!/bin/sh\necho run\n", 0o755)
    write(root / "data" / "a.csv", "x,y\n1,2\n")
    write(root / "data" / "nested" / "deep" / "b.bin", os.urandom(70_000))
    write(root / "data" / "empty.txt", b"")
    (root / "empty-folder").mkdir()
    os.symlink("data/a.csv", root / "latest.csv")


def test_snapshot_counts_and_stores_everything(
    store: ObjectStore, tmp_path: Path, write: Write
) -> None:
    src = tmp_path / "src"
    make_project(src, write)
    ref = snapshot_dir(store, src)
    tree = read_tree(store, ref.oid)
    paths = [e.path for e in tree.entries]
    assert paths == sorted(paths)
    assert paths == [
        "data/a.csv",
        "data/empty.txt",
        "data/nested/deep/b.bin",
        "latest.csv",
        "run.sh",
        "train.py",
    ]
    assert ref.count == 6
    assert ref.size == tree.size
    assert store.missing([e.oid for e in tree.entries]) == []
    modes = {e.path: e.mode for e in tree.entries}
    assert modes["run.sh"] == MODE_EXEC
    assert modes["train.py"] == MODE_FILE
    assert modes["latest.csv"] == MODE_LINK


def test_same_folder_same_oid_whatever_the_creation_order(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    names = [f"dir{i % 4}/file{i}.txt" for i in range(25)]
    for folder, order, mode in (("one", names, 0o644), ("two", names[::-1], 0o600)):
        for name in order:
            write(tmp_path / folder / name, f"content of {name}", mode)
    first = snapshot_dir(store, tmp_path / "one")
    second = snapshot_dir(store, tmp_path / "two")
    assert first == second  # umask-like mode differences do not change the oid either


def test_manifest_bytes_are_canonical_and_recognisable() -> None:
    oid = hash_bytes(b"x")
    entries = (TreeEntry("b/z", oid, 1, MODE_FILE), TreeEntry("a", oid, 1, MODE_EXEC))
    data = Tree(entries).to_bytes()
    assert data.startswith(TREE_MAGIC)
    assert data == Tree(entries[::-1]).to_bytes()
    assert Tree.from_bytes(data) == Tree(entries)
    assert json.loads(data)["entries"][0] == ["a", oid, 1, MODE_EXEC]
    assert b" " not in data


def test_ignore_skips_files_and_whole_folders(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    write(tmp_path / "src" / "keep.py", "keep")
    write(tmp_path / "src" / "skip.pyc", "skip")
    write(tmp_path / "src" / "__pycache__" / "x.py", "skip")
    write(tmp_path / "src" / "pkg" / "mod.py", "keep")
    seen: list[str] = []

    def ignore(rel: str) -> bool:
        seen.append(rel)
        return rel.endswith(".pyc") or rel == "__pycache__"

    ref = snapshot_dir(store, tmp_path / "src", ignore=ignore)
    assert [e.path for e in read_tree(store, ref.oid).entries] == ["keep.py", "pkg/mod.py"]
    assert "__pycache__/x.py" not in seen  # an ignored folder is not even walked


def test_links_are_recorded_not_followed(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    write(tmp_path / "outside" / "secret.txt", "do not capture")
    src = tmp_path / "src"
    write(src / "real.txt", "real")
    os.symlink(tmp_path / "outside", src / "out-link")
    os.symlink(".", src / "loop")
    ref = snapshot_dir(store, src)
    entries = {e.path: e for e in read_tree(store, ref.oid).entries}
    assert set(entries) == {"real.txt", "out-link", "loop"}
    assert store.get_bytes(entries["out-link"].oid) == str(tmp_path / "outside").encode()
    assert entries["loop"].mode == MODE_LINK
    assert all(store.get_bytes(o) != b"do not capture" for o in store.iter_oids())


def test_restore_round_trip_with_modes_and_links(
    store: ObjectStore, tmp_path: Path, write: Write
) -> None:
    src = tmp_path / "src"
    make_project(src, write)
    ref = snapshot_dir(store, src)
    calls: list[tuple[int, int]] = []
    dest = tmp_path / "restored"
    restore_tree(store, ref.oid, dest, progress=lambda done, total: calls.append((done, total)))
    assert files_under(dest) == files_under(src)
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "train.py").stat().st_mode) == 0o644
    assert os.readlink(dest / "latest.csv") == "data/a.csv"
    assert calls[-1] == (ref.size, ref.size)
    assert snapshot_dir(store, dest) == ref


def test_restore_by_copy_and_over_existing_files(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    write(tmp_path / "src" / "a.txt", "new")
    ref = snapshot_dir(store, tmp_path / "src")
    dest = tmp_path / "dest"
    write(dest / "a.txt", "old contents")
    write(dest / "unrelated.txt", "stays")
    restore_tree(store, ref.oid, dest, link=False)
    assert (dest / "a.txt").read_text() == "new"
    assert (dest / "unrelated.txt").read_text() == "stays"
    (dest / "a.txt").write_text("edited")  # a restored file is independent of the store
    assert store.verify(read_tree(store, ref.oid).entries[0].oid)
    assert sorted(p.name for p in dest.iterdir()) == ["a.txt", "unrelated.txt"]


def evil_tree(store: ObjectStore, *paths: str) -> str:
    blob = store.put_bytes(b"pwned")
    doc = {"cairn-tree": 1, "entries": [[p, blob, 5, MODE_FILE] for p in paths]}
    return store.put_bytes(json.dumps(doc, separators=(",", ":")).encode())


@pytest.mark.parametrize(
    "paths",
    [
        ("../escape.txt",),
        ("a/../../escape.txt",),
        ("/tmp/escape.txt",),
        ("a//b",),
        ("./a",),
        ("a", "a/b"),
        ("x", "x"),
    ],
)
def test_unsafe_tree_entries_are_refused(
    store: ObjectStore, tmp_path: Path, paths: tuple[str, ...]
) -> None:
    oid = evil_tree(store, *paths)
    dest = tmp_path / "deep" / "dest"
    with pytest.raises(Corrupt):
        restore_tree(store, oid, dest)
    assert not (tmp_path / "deep" / "escape.txt").exists()
    assert not Path("/tmp/escape.txt").exists()
    assert not dest.exists() or list(dest.iterdir()) == []


def test_restore_does_not_write_through_a_link_out_of_dest(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    write(tmp_path / "src" / "data" / "x.txt", "x")
    ref = snapshot_dir(store, tmp_path / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    os.symlink(outside, dest / "data")
    with pytest.raises(Conflict):
        restore_tree(store, ref.oid, dest)
    assert list(outside.iterdir()) == []


def test_restore_into_a_file_is_a_conflict(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    write(tmp_path / "src" / "a.txt", "a")
    ref = snapshot_dir(store, tmp_path / "src")
    with pytest.raises(Conflict):
        restore_tree(store, ref.oid, write(tmp_path / "occupied", "a file"))
    write(tmp_path / "dest" / "a.txt" / "inner", "a folder where the tree has a file")
    with pytest.raises(Conflict):
        restore_tree(store, ref.oid, tmp_path / "dest")
    assert [p.name for p in (tmp_path / "dest").iterdir()] == ["a.txt"]  # no tmp left


def test_a_tree_cannot_be_built_with_unsafe_paths() -> None:
    oid = hash_bytes(b"x")
    for bad in ("../x", "/abs", "a/./b", ""):
        with pytest.raises(InvalidInput):
            Tree((TreeEntry(bad, oid, 1),))


def test_read_tree_of_a_blob_or_garbage_is_corrupt(store: ObjectStore) -> None:
    blob = store.put_bytes(b"just data")
    broken = store.put_bytes(TREE_MAGIC + b"1,nonsense")
    wrong_version = store.put_bytes(b'{"cairn-tree":99,"entries":[]}')
    for oid in (blob, broken, wrong_version):
        with pytest.raises(Corrupt):
            read_tree(store, oid)
    with pytest.raises(NotFound):
        read_tree(store, "0" * 64)


def test_snapshot_paths_takes_only_the_listed_files(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    root = tmp_path / "proj"
    write(root / "a.py", "a")
    write(root / "b.py", "b")
    write(root / "pkg" / "c.py", "c")
    write(root / "pkg" / "sub" / "d.py", "d")
    ref = snapshot_paths(store, root, ["a.py", "./pkg/sub", "a.py"])
    assert [e.path for e in read_tree(store, ref.oid).entries] == ["a.py", "pkg/sub/d.py"]
    assert ref.count == 2


def test_snapshot_paths_refuses_paths_outside_the_root(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    root = tmp_path / "proj"
    write(root / "a.py", "a")
    write(tmp_path / "elsewhere" / "secret", "s")
    os.symlink(tmp_path / "elsewhere", root / "via-link")
    for bad in ("../elsewhere/secret", str(tmp_path / "elsewhere" / "secret"), "via-link/secret"):
        with pytest.raises(InvalidInput):
            snapshot_paths(store, root, [bad])
    with pytest.raises(NotFound):
        snapshot_paths(store, root, ["nope.py"])


def test_snapshot_path_of_a_file_and_of_a_folder(
    store: ObjectStore, tmp_path: Path, write: Write
) -> None:
    model = write(tmp_path / "model.pkl", b"\x80\x04weights")
    ref, is_tree = snapshot_path(store, model)
    assert (ref, is_tree) == (TreeRef(hash_bytes(b"\x80\x04weights"), 9, 1), False)
    assert store.get_bytes(ref.oid) == b"\x80\x04weights"
    write(tmp_path / "outdir" / "m.pkl", "m")
    ref, is_tree = snapshot_path(store, tmp_path / "outdir")
    assert is_tree and read_tree(store, ref.oid).count == 1
    with pytest.raises(NotFound):
        snapshot_path(store, tmp_path / "missing")


def test_snapshot_dir_errors(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    with pytest.raises(NotFound):
        snapshot_dir(store, tmp_path / "missing")
    with pytest.raises(InvalidInput):
        snapshot_dir(store, write(tmp_path / "file.txt", "x"))


def test_progress_reaches_the_total(tmp_path: Path, write: Write) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    for i in range(5):
        write(tmp_path / "src" / f"f{i}", os.urandom(1000))
    calls: list[tuple[int, int]] = []
    snapshot_dir(store, tmp_path / "src", progress=lambda d, t: calls.append((d, t)))
    assert calls[-1] == (5000, 5000)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)


@pytest.mark.skipif(sys.platform != "linux", reason="needs a filesystem taking any bytes")
def test_undecodable_and_unicode_names_round_trip(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects")
    src = tmp_path / "src"
    src.mkdir()
    raw_names = [b"caf\xe9.txt", "naïve-日本.txt".encode()]
    for name in raw_names:
        with open(os.path.join(os.fsencode(src), name), "wb") as f:
            f.write(name)
    ref = snapshot_dir(store, src)
    assert store.get_bytes(ref.oid).isascii()
    dest = tmp_path / "dest"
    restore_tree(store, ref.oid, dest)
    assert sorted(os.listdir(os.fsencode(dest))) == sorted(raw_names)
