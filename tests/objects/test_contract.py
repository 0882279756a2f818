"""The ObjectStore contract, run against every backend (see the ``store`` fixture)."""

from __future__ import annotations

import os
from pathlib import Path

import blake3
import pytest

from cairn.errors import InvalidInput, NotFound
from cairn.objects.base import ObjectStore
from cairn.objects.oid import EMPTY_OID

UNKNOWN = "0" * 64


def oid_of(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


class TestObjectStoreContract:
    def test_is_an_object_store(self, store: ObjectStore) -> None:
        assert isinstance(store, ObjectStore)

    def test_put_bytes_names_the_object_by_its_blake3_hex(self, store: ObjectStore) -> None:
        oid = store.put_bytes(b"hello cairn")
        assert oid == oid_of(b"hello cairn")
        assert store.has(oid)
        assert store.get_bytes(oid) == b"hello cairn"
        assert store.size(oid) == len(b"hello cairn")
        with store.open(oid) as f:
            assert f.read(5) == b"hello"
            assert f.read() == b" cairn"

    def test_same_bytes_twice_are_stored_once(self, store: ObjectStore) -> None:
        first = store.put_bytes(b"same")
        second = store.put_bytes(b"same")
        assert first == second
        assert list(store.iter_oids()) == [first]

    def test_empty_bytes_and_empty_files(self, store: ObjectStore, tmp_path: Path) -> None:
        empty = tmp_path / "empty"
        empty.write_bytes(b"")
        assert store.put_bytes(b"") == EMPTY_OID
        assert store.put_file(empty) == EMPTY_OID
        assert store.get_bytes(EMPTY_OID) == b""
        assert store.size(EMPTY_OID) == 0

    def test_put_file_streams_a_file_larger_than_one_read(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        data = os.urandom(3 * 1024 * 1024 + 17)
        src = tmp_path / "big.bin"
        src.write_bytes(data)
        oid = store.put_file(src)
        assert oid == oid_of(data)
        assert store.get_bytes(oid) == data
        assert store.verify(oid)

    def test_put_file_of_existing_bytes_keeps_one_object(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        (tmp_path / "a").write_bytes(b"twin")
        (tmp_path / "b").write_bytes(b"twin")
        assert store.put_file(tmp_path / "a") == store.put_file(tmp_path / "b")
        assert len(list(store.iter_oids())) == 1

    def test_put_file_rejects_missing_files_and_folders(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        with pytest.raises(NotFound):
            store.put_file(tmp_path / "nope")
        with pytest.raises(InvalidInput):
            store.put_file(tmp_path)
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        with pytest.raises(InvalidInput):  # refused, not read forever
            store.put_file(fifo)
        assert list(store.iter_oids()) == []

    def test_a_given_oid_is_trusted_and_verify_catches_a_wrong_one(
        self, store: ObjectStore, tmp_path: Path
    ) -> None:
        src = tmp_path / "f"
        src.write_bytes(b"real content")
        claimed = oid_of(b"something else")
        assert store.put_file(src, claimed) == claimed
        assert store.get_bytes(claimed) == b"real content"
        assert store.verify(claimed) is False
        good = store.put_bytes(b"fine")
        assert store.verify(good) is True

    def test_missing_answers_the_absent_subset_in_order(self, store: ObjectStore) -> None:
        present = store.put_bytes(b"here")
        absent = [oid_of(b"x"), oid_of(b"y")]
        assert store.missing([absent[0], present, absent[1], absent[0]]) == absent
        assert store.missing([]) == []

    def test_missing_on_a_large_batch(self, store: ObjectStore) -> None:
        stored = [store.put_bytes(f"object {i}".encode()) for i in range(40)]
        unknown = [oid_of(f"never {i}".encode()) for i in range(300)]
        batch = unknown[:150] + stored + unknown[150:]
        assert store.missing(batch) == unknown

    def test_unknown_oids_raise_not_found(self, store: ObjectStore) -> None:
        assert store.has(UNKNOWN) is False
        for call in (store.open, store.get_bytes, store.size, store.verify, store.delete):
            with pytest.raises(NotFound):
                call(UNKNOWN)

    @pytest.mark.parametrize("bad", ["../../etc/passwd", "ab", "A" * 64, "g" * 64, ""])
    def test_malformed_oids_are_refused(self, store: ObjectStore, bad: str) -> None:
        with pytest.raises(InvalidInput):
            store.has(bad)
        with pytest.raises(InvalidInput):
            store.open(bad)
        with pytest.raises(InvalidInput):
            store.missing([bad])

    def test_iter_oids_and_delete(self, store: ObjectStore) -> None:
        oids = {store.put_bytes(bytes([i]) * 10) for i in range(20)}
        assert set(store.iter_oids()) == oids
        victim = sorted(oids)[0]
        store.delete(victim)
        assert not store.has(victim)
        assert set(store.iter_oids()) == oids - {victim}
        assert store.put_bytes(store.get_bytes(sorted(oids)[1])) == sorted(oids)[1]

    def test_an_empty_store_lists_nothing(self, store: ObjectStore) -> None:
        assert list(store.iter_oids()) == []
        assert store.missing([UNKNOWN]) == [UNKNOWN]
