"""Run bundles: what a run becomes to move, and back, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.errors import Conflict, Corrupt, InvalidInput
from cairn.objects.local import LocalObjectStore
from cairn.project import Project
from cairn.remote.bundle import (
    export_run,
    import_bundle,
    pack_metrics,
    split_referenced,
    unpack_metrics,
    validate_bundle,
)
from cairn.runner.artifacts import add_path
from cairn.store import runs as run_store
from cairn.store.core import MetaStore, project_row
from cairn.store.db import Database
from cairn.store.metrics import latest_metrics, read_series, write_series
from cairn.store.migrate import ensure_schema
from cairn.store.record import Origin, RunRecord
from cairn.store.series import Series
from tests.store.faults import refuse_inserts


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetaStore]:
    """An empty store to import into, on each metadata backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'target.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    db = Database(url)
    ensure_schema(db, lock_dir=tmp_path)
    yield MetaStore(db, project_row(db, "team"), "team")
    db.close()


def _series(values: list[float]) -> Series:
    s = Series.empty()
    for i, v in enumerate(values):
        s.steps.append(i * 10)
        s.values.append(v)
        s.times.append(1_700_000_000_000 + i)
    return s


def _source_run(alice: Project) -> tuple[MetaStore, run_store.RunRow]:
    from cairn.store.core import open_store

    store = open_store(alice)
    with store.db.write() as tx:
        parent = run_store.create_run(tx, store.project_id, name="parent")
        run = run_store.create_run(
            tx, store.project_id, name="child",
            params={"lr": 0.1, "layers": [64, 32], "flag": True, "odd": math.nan},
            tags={"team": "vision"}, lineage={"parent": parent.id}, created_by="alice",
            record=RunRecord.from_json(
                {"code": {"diff_oid": store_blob(alice, b"diff --git a b")}}),
        )
        write_series(tx, run.id, {"loss": _series([1.0, math.nan, 0.5]),
                                  "sys/cpu": _series([10.0] * 5)})
    (alice.root / "out").mkdir()
    (alice.root / "out" / "model.bin").write_bytes(b"weights")
    add_path(store, alice, run.id, alice.root / "out", kind="output", name="out")
    with store.db.write() as tx:
        run_store.finish_run(tx, run.id, exit_code=0)
    return store, run_store.get_run(store, run.id)


def store_blob(project: Project, data: bytes) -> str:
    return LocalObjectStore(project.objects_dir).put_bytes(data)


def test_a_run_round_trips_through_a_bundle(alice: Project, target: MetaStore) -> None:
    source, run = _source_run(alice)
    objects = LocalObjectStore(alice.objects_dir)
    bundle = export_run(source, objects, run)
    blobs, trees = split_referenced(bundle.doc, objects)
    assert len(trees) == 1 and len(blobs) == 3  # model.bin, the diff, the metrics

    with target.db.write() as tx:
        imported = import_bundle(tx, target, objects, bundle.doc, origin=Origin("team"))
    got = imported.run
    assert imported.created and got.id == run.id and got.number == 1
    assert got.created_by == "alice" and got.exit_code == 0 and got.status == "finished"
    assert got.record.origin == Origin("team")
    params = run_store.get_params(target, [run.id])[run.id]
    assert params["layers"] == [64, 32] and params["flag"] is True and math.isnan(params["odd"])
    assert run_store.get_tags(target, [run.id])[run.id] == {"team": "vision"}
    assert run_store.get_lineage(target, run.id)["parent"] == run_store.get_lineage(
        source, run.id)["parent"]
    loss = read_series(target, run.id, "loss")
    assert list(loss.steps) == [0, 10, 20] and math.isnan(loss.values[1])
    assert latest_metrics(target, [run.id])[run.id]["loss"] == 0.5

    with target.db.write() as tx:
        again = import_bundle(tx, target, objects, bundle.doc)
    assert not again.created and again.run.number == 1
    assert again.run.record.origin == Origin("team")  # the first origin stays
    assert len(read_series(target, run.id, "sys/cpu")) == 5  # not doubled
    assert export_run(target, objects, again.run).doc["metrics"] == bundle.doc["metrics"]
    source.close()


def test_a_finished_run_is_never_replaced_by_a_running_copy(alice: Project,
                                                            target: MetaStore) -> None:
    source, run = _source_run(alice)
    objects = LocalObjectStore(alice.objects_dir)
    doc = export_run(source, objects, run).doc
    with target.db.write() as tx:
        import_bundle(tx, target, objects, doc)
    doc["run"]["status"] = "running"
    with pytest.raises(Conflict, match="already finished"), target.db.write() as tx:
        import_bundle(tx, target, objects, doc)
    assert run_store.get_run(target, run.id).status == "finished"
    source.close()


def test_an_import_that_finds_no_run_number_is_one_clear_conflict(
        alice: Project, target: MetaStore) -> None:
    """Pushes and pulls allocate run numbers the way new runs do: after the retries, the same
    ``Conflict`` as ``create_run``, and nothing of the run is written."""
    source, run = _source_run(alice)
    objects = LocalObjectStore(alice.objects_dir)
    doc = export_run(source, objects, run).doc
    refuse_inserts(target.db, "runs")
    with pytest.raises(Conflict, match="no run number could be allocated"), \
            target.db.write() as tx:
        import_bundle(tx, target, objects, doc)
    assert run_store.find_run(target, run.id) is None
    assert run_store.param_texts(target, run.id) == {}
    source.close()


def test_packed_metrics_are_checked() -> None:
    packed = pack_metrics({"b": _series([1.0]), "a": _series([2.0, 3.0])})
    assert pack_metrics({"a": _series([2.0, 3.0]), "b": _series([1.0])}) == packed
    assert list(unpack_metrics(packed)["a"].values) == [2.0, 3.0]
    with pytest.raises(Corrupt):
        unpack_metrics(packed[:-4])
    with pytest.raises(Corrupt):
        unpack_metrics(b"something else")


@pytest.mark.parametrize("change", [
    {"params": {"lr": "not json {"}},
    {"lineage": {"cousin": "a" * 32}},
    {"tags": {"k": 1}},
    {"artifacts": [{"kind": "artifact", "path": "/etc/passwd", "oid": "0" * 64, "size": 1}]},
    {"artifacts": [{"kind": "blob", "path": "x", "oid": "0" * 64, "size": 1}]},
    {"metrics": "../../x"},
])
def test_malformed_bundles_are_refused(change: dict[str, object]) -> None:
    doc = {"cairn-bundle": 1, "run": {"id": "b" * 32, "number": 1, "status": "finished",
                                      "started_at": 1}, **change}
    with pytest.raises(InvalidInput, match="the run bundle is not valid"):
        validate_bundle(doc)
