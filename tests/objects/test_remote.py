"""Choosing a store by URL, and what fsspec stores promise beyond the contract."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from cairn.errors import MissingExtra
from cairn.objects.fsspec_store import FsspecObjectStore, open_object_store
from cairn.objects.local import LocalObjectStore


def test_paths_and_file_urls_open_the_local_store(tmp_path: Path) -> None:
    for given in (tmp_path / "a", str(tmp_path / "a"), f"file://{tmp_path / 'a'}"):
        store = open_object_store(given)
        assert isinstance(store, LocalObjectStore)
        assert store.root == tmp_path / "a"


def test_other_urls_open_an_fsspec_store() -> None:
    store = open_object_store(f"memory://cairn-test-{uuid.uuid4().hex}/objects")
    assert isinstance(store, FsspecObjectStore)
    oid = store.put_bytes(b"in memory")
    assert store.fs.cat_file(f"{store.root}/{oid[:2]}/{oid[2:]}") == b"in memory"


def test_s3_without_s3fs_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # what Python does for an absent package
    with pytest.raises(MissingExtra) as caught:
        open_object_store("s3://bucket/objects")
    assert caught.value.hint == "pip install 'cairn[s3]'"


def test_memory_stores_at_different_paths_are_separate() -> None:
    one = FsspecObjectStore(f"memory://cairn-test-{uuid.uuid4().hex}/objects")
    two = FsspecObjectStore(f"memory://cairn-test-{uuid.uuid4().hex}/objects")
    oid = one.put_bytes(b"only in one")
    assert not two.has(oid)
    assert list(two.iter_oids()) == []


def test_local_and_fsspec_file_stores_share_one_layout(tmp_path: Path) -> None:
    """A folder written by one can be read by the other, so copies are plain file copies."""
    local = LocalObjectStore(tmp_path / "objects")
    oid = local.put_bytes(b"shared layout")
    remote = FsspecObjectStore(f"file://{tmp_path / 'objects'}")
    assert remote.get_bytes(oid) == b"shared layout"
    other = remote.put_bytes(b"written through fsspec")
    assert local.get_bytes(other) == b"written through fsspec"
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
