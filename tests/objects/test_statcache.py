"""The stat cache: unchanged files are not hashed again, racy files always are."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from cairn.objects.hashing import hash_bytes
from cairn.objects.local import LocalObjectStore
from cairn.objects.statcache import RACY_WINDOW_NS, StatCache
from cairn.objects.tree import read_tree, snapshot_dir
from cairn.store.db import Database


def rewrite_keeping_stat(path: Path, data: bytes) -> None:
    """Change a file's bytes in place but keep its size and mtime: only a hash can tell."""
    before = path.stat()
    assert len(data) == before.st_size
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


class CountingStore(LocalObjectStore):
    """A real local store that counts how often it is asked to hash and store a file."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.hashed: list[Path] = []

    def put_file(self, path: Path, oid: str | None = None) -> str:
        if oid is None:
            self.hashed.append(path)
        return super().put_file(path, oid)


def test_an_unchanged_file_is_served_from_the_cache(
    db: Database, tmp_path: Path, age: Callable[..., None]
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"version one")
    age(path)
    with StatCache(db) as cache:
        assert cache.hash_file(path) == hash_bytes(b"version one")
    rewrite_keeping_stat(path, b"version two")
    again = StatCache(db)  # a new process: entries come from the database
    assert again.hash_file(path) == hash_bytes(b"version one")
    assert (again.hits, again.misses) == (1, 0)


def test_a_changed_file_is_hashed_again(
    db: Database, tmp_path: Path, age: Callable[..., None]
) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"short")
    age(path)
    with StatCache(db) as cache:
        cache.hash_file(path)
    path.write_bytes(b"longer content")
    age(path, 1800)
    cache = StatCache(db)
    assert cache.hash_file(path) == hash_bytes(b"longer content")
    assert cache.misses == 1


def test_a_racy_file_is_never_trusted(db: Database, tmp_path: Path) -> None:
    """Written within the last 2 s: a same-size rewrite in the same mtime tick must be seen."""
    path = tmp_path / "fresh.txt"
    path.write_bytes(b"AAAA")
    with StatCache(db) as cache:
        assert cache.hash_file(path) == hash_bytes(b"AAAA")
    rewrite_keeping_stat(path, b"BBBB")
    with StatCache(db) as cache:
        assert cache.hash_file(path) == hash_bytes(b"BBBB")
        assert cache.hits == 0
    assert db.query("SELECT count(*) FROM stat_cache") == [(0,)]


def test_racy_window_is_measured_from_the_stat_not_from_now(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    st = path.stat()
    cache = StatCache(None)
    assert not cache.put(st, hash_bytes(b"x"), stat_time_ns=st.st_mtime_ns + RACY_WINDOW_NS - 1)
    assert cache.put(st, hash_bytes(b"x"), stat_time_ns=st.st_mtime_ns + RACY_WINDOW_NS)
    assert cache.get(st) == hash_bytes(b"x")


def test_entries_reach_the_database_only_on_flush(
    db: Database, tmp_path: Path, age: Callable[..., None]
) -> None:
    paths = []
    for i in range(50):
        p = tmp_path / f"f{i}"
        p.write_bytes(f"file {i}".encode())
        age(p)
        paths.append(p)
    cache = StatCache(db)
    for p in paths:
        cache.hash_file(p)
    assert db.query("SELECT count(*) FROM stat_cache") == [(0,)]
    cache.flush()
    assert db.query("SELECT count(*) FROM stat_cache") == [(50,)]
    cache.flush()  # nothing pending: nothing written
    assert db.query("SELECT count(*) FROM stat_cache") == [(50,)]


def test_in_memory_cache_keeps_nothing_on_disk(tmp_path: Path, age: Callable[..., None]) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"mem")
    age(path)
    cache = StatCache(None)
    cache.hash_file(path)
    rewrite_keeping_stat(path, b"MEM")
    assert cache.hash_file(path) == hash_bytes(b"mem")
    assert StatCache(None).hash_file(path) == hash_bytes(b"MEM")


def test_huge_device_and_inode_numbers_fit_the_table(db: Database) -> None:
    """Inode numbers above 2**63 (seen on overlay and network filesystems) must not fail."""
    old = time.time_ns() - 10**12
    st = os.stat_result(
        (0o100644, 2**64 - 5, 2**63 + 7, 1, 0, 0, 10, 0, 0, 0),
        {"st_mtime_ns": old, "st_atime_ns": old, "st_ctime_ns": old},
    )
    oid = hash_bytes(b"0123456789")
    with StatCache(db) as cache:
        assert cache.put(st, oid)
    assert StatCache(db).get(st) == oid


def test_snapshots_of_unchanged_files_hash_nothing(
    db: Database, tmp_path: Path, age: Callable[..., None]
) -> None:
    data = tmp_path / "data"
    for i in range(30):
        (data / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        p = data / f"d{i % 3}" / f"f{i}.csv"
        p.write_text(f"row,{i}\n")
        age(p)
    store = CountingStore(tmp_path / "objects")
    first = snapshot_dir(store, data, stat_cache=StatCache(db))
    assert len(store.hashed) == 30
    store.hashed.clear()
    second = snapshot_dir(store, data, stat_cache=StatCache(db))
    assert second == first
    assert store.hashed == []
    # A changed file is hashed again, and only that one.
    target = data / "d0" / "f0.csv"
    target.write_text("row,changed\n")
    age(target, 60)
    third = snapshot_dir(store, data, stat_cache=StatCache(db))
    assert store.hashed == [target]
    assert third.oid != first.oid
    changed = {e.path: e.oid for e in read_tree(store, third.oid).entries}["d0/f0.csv"]
    assert changed == hash_bytes(b"row,changed\n")


def test_a_cached_file_missing_from_the_store_is_stored_again(
    db: Database, tmp_path: Path, age: Callable[..., None]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a").write_bytes(b"precious")
    age(data / "a")
    first_store = LocalObjectStore(tmp_path / "one")
    snapshot_dir(first_store, data, stat_cache=StatCache(db))
    other_store = LocalObjectStore(tmp_path / "two")
    ref = snapshot_dir(other_store, data, stat_cache=StatCache(db))
    entry = read_tree(other_store, ref.oid).entries[0]
    assert other_store.get_bytes(entry.oid) == b"precious"
