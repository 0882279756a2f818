"""One contract for the metadata store, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import math
import threading
from array import array
from pathlib import Path

import pytest

from cairn.errors import Ambiguous, Conflict, InvalidInput, NotFound
from cairn.project import Project
from cairn.store import runs
from cairn.store.core import MetaStore, open_store
from cairn.store.metrics import append_series, latest_metrics, read_series
from cairn.store.resolve import resolve_run
from cairn.store.series import Series


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> MetaStore:
    proj = Project(root=tmp_path, store_dir=tmp_path / ".cairn")
    proj.store_dir.mkdir()
    if request.param == "postgresql":
        monkeypatch.setenv("CAIRN_DB", request.getfixturevalue("pg_url"))
    s = open_store(proj, name="contract")
    yield s
    s.close()


def series(steps: list[int], values: list[float]) -> Series:
    return Series(array("q", steps), array("d", values), array("q", [1000 + s for s in steps]))


class TestRuns:
    def test_numbers_are_sequential_per_project(self, store: MetaStore) -> None:
        numbers = [runs.create_run(store, name=f"r{i}").number for i in range(3)]
        assert numbers == [1, 2, 3]

    def test_ids_are_time_ordered(self, store: MetaStore) -> None:
        ids = [runs.create_run(store).id for _ in range(5)]
        assert ids == sorted(ids)
        assert all(len(i) == 32 for i in ids)

    def test_concurrent_creates_never_share_a_number(self, store: MetaStore) -> None:
        errors: list[BaseException] = []

        def make() -> None:
            try:
                for _ in range(10):
                    runs.create_run(store)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=make) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        numbers = [r.number for r in runs.list_runs(store, limit=None)]
        assert sorted(numbers) == list(range(1, 41))

    def test_params_keep_their_types(self, store: MetaStore) -> None:
        params = {"lr": 0.1, "epochs": 3, "model": "rf", "deep": True, "layers": [64, 32],
                  "none": None}
        run = runs.create_run(store, params=params)
        assert runs.get_params(store, [run.id])[run.id] == params

    def test_tags_and_lineage(self, store: MetaStore) -> None:
        parent = runs.create_run(store)
        child = runs.create_run(store, tags={"team": "vision"}, lineage={"parent": parent.id})
        assert runs.get_tags(store, [child.id])[child.id] == {"team": "vision"}
        assert runs.get_lineage(store, child.id)["parent"] == parent.id
        assert runs.get_children(store, parent.id) == [("parent", child.id)]

    def test_a_finished_runs_params_cannot_change(self, store: MetaStore) -> None:
        run = runs.create_run(store, params={"lr": 0.1})
        runs.finish_run(store, run.id, "finished", exit_code=0)
        with pytest.raises(Conflict):
            runs.log_params(store, run.id, {"lr": 0.2})
        assert runs.get_params(store, [run.id])[run.id] == {"lr": 0.1}

    def test_finish_records_status_and_exit_code(self, store: MetaStore) -> None:
        run = runs.create_run(store)
        runs.finish_run(store, run.id, "failed", exit_code=3)
        row = runs.get_run(store, run.id)
        assert (row.status, row.exit_code) == ("failed", 3)
        assert row.ended_at is not None and row.ended_at >= row.started_at

    def test_unknown_status_is_refused(self, store: MetaStore) -> None:
        with pytest.raises(InvalidInput):
            runs.create_run(store, status="exploded")

    def test_dead_process_is_reaped_as_crashed(self, store: MetaStore) -> None:
        import subprocess
        import sys

        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        run = runs.create_run(store, pid=proc.pid)
        alive = runs.create_run(store)  # this test process: still alive
        assert runs.reap_crashed(store) == 1
        assert runs.get_run(store, run.id).status == "crashed"
        assert runs.get_run(store, alive.id).status == "running"

    def test_stale_heartbeat_is_reaped(self, store: MetaStore) -> None:
        run = runs.create_run(store)
        with store.db.write() as w:
            w.execute("UPDATE runs SET heartbeat_at = heartbeat_at - ?, hostname = ? "
                      "WHERE id = ?", (runs.HEARTBEAT_TIMEOUT_MS + 1000, "elsewhere", run.id))
        runs.reap_crashed(store)
        assert runs.get_run(store, run.id).status == "crashed"


class TestMetrics:
    def test_series_round_trip_with_nan_and_inf(self, store: MetaStore) -> None:
        run = runs.create_run(store)
        values = [0.5, math.nan, math.inf, -math.inf, 1e-300]
        append_series(store, run.id, {"loss": series([0, 1, 2, 3, 4], values)})
        got = read_series(store, run.id, "loss")
        assert list(got.steps) == [0, 1, 2, 3, 4]
        assert got.values[0] == 0.5 and math.isnan(got.values[1])
        assert got.values[2] == math.inf and got.values[3] == -math.inf
        assert got.values[4] == 1e-300
        assert latest_metrics(store, [run.id])[run.id] == {"loss": 1e-300}

    def test_latest_follows_appends_and_counts(self, store: MetaStore) -> None:
        run = runs.create_run(store)
        append_series(store, run.id, {"acc": series([0, 1], [0.1, 0.2])})
        append_series(store, run.id, {"acc": series([2], [math.nan])})
        assert math.isnan(latest_metrics(store, [run.id])[run.id]["acc"])
        append_series(store, run.id, {"acc": series([3], [0.9])})
        assert latest_metrics(store, [run.id])[run.id] == {"acc": 0.9}
        assert len(read_series(store, run.id, "acc")) == 4
        from cairn.store.metrics import point_counts

        assert point_counts(store, run.id) == {"acc": 4}

    def test_large_series_is_chunked_and_complete(self, store: MetaStore) -> None:
        run = runs.create_run(store)
        n = 50_000
        append_series(store, run.id, {"x": series(list(range(n)), [float(i) for i in range(n)])})
        got = read_series(store, run.id, "x")
        assert len(got) == n and got.values[-1] == n - 1
        chunks = store.db.query("SELECT COUNT(*) FROM metric_chunks WHERE run_id = ?", (run.id,))
        assert chunks[0][0] > 1


class TestReferences:
    def test_number_last_prefix_and_name(self, store: MetaStore) -> None:
        a = runs.create_run(store, name="baseline")
        b = runs.create_run(store, name="tuned")
        assert resolve_run(store, "1").id == a.id
        assert resolve_run(store, "last").id == b.id
        assert resolve_run(store, b.id[:24]).id == b.id
        assert resolve_run(store, "baseline").id == a.id

    def test_unknown_reference(self, store: MetaStore) -> None:
        runs.create_run(store)
        with pytest.raises(NotFound, match="no run matches 'nope'"):
            resolve_run(store, "nope")
        with pytest.raises(NotFound):
            resolve_run(store, "99")

    def test_ambiguous_name_lists_candidates(self, store: MetaStore) -> None:
        runs.create_run(store, name="same")
        runs.create_run(store, name="same")
        with pytest.raises(Ambiguous) as info:
            resolve_run(store, "same")
        assert "1 (" in info.value.message and "2 (" in info.value.message

    def test_last_with_no_runs(self, store: MetaStore) -> None:
        with pytest.raises(NotFound, match="no runs yet"):
            resolve_run(store, "last")


def test_migration_head_is_pinned() -> None:
    """``migrate.HEAD`` must name the newest Alembic revision, or stores never upgrade."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from cairn.store import migrate

    config = Config()
    config.set_main_option("script_location", str(Path(migrate.__file__).parent / "migrations"))
    assert ScriptDirectory.from_config(config).get_current_head() == migrate.HEAD
