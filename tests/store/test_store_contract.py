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
from cairn.store.metrics import latest_metrics, read_series, write_series
from cairn.store.resolve import resolve_run
from cairn.store.series import Series
from tests.store.faults import refuse_inserts


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
        with store.db.write() as tx:
            numbers = [runs.create_run(tx, store.project_id, name=f"r{i}").number
                       for i in range(3)]
        assert numbers == [1, 2, 3]

    def test_ids_are_time_ordered(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            ids = [runs.create_run(tx, store.project_id).id for _ in range(5)]
        assert ids == sorted(ids)
        assert all(len(i) == 32 for i in ids)

    def test_concurrent_creates_never_share_a_number(self, store: MetaStore) -> None:
        errors: list[BaseException] = []

        def make() -> None:
            try:
                for _ in range(10):
                    with store.db.write() as tx:
                        runs.create_run(tx, store.project_id)
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
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id, params=params)
        assert runs.get_params(store, [run.id])[run.id] == params

    def test_tags_and_lineage(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            parent = runs.create_run(tx, store.project_id)
            child = runs.create_run(tx, store.project_id, tags={"team": "vision"},
                                    lineage={"parent": parent.id})
        assert runs.get_tags(store, [child.id])[child.id] == {"team": "vision"}
        assert runs.get_lineage(store, child.id)["parent"] == parent.id
        assert runs.get_children(store, parent.id) == [("parent", child.id)]

    def test_a_finished_runs_params_cannot_change(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id, params={"lr": 0.1})
            runs.finish_run(tx, run.id, "finished", exit_code=0)
        with pytest.raises(Conflict), store.db.write() as tx:
            runs.log_params(tx, run.id, {"lr": 0.2})
        assert runs.get_params(store, [run.id])[run.id] == {"lr": 0.1}

    def test_finish_records_status_and_exit_code(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id)
            runs.finish_run(tx, run.id, "failed", exit_code=3)
        row = runs.get_run(store, run.id)
        assert (row.status, row.exit_code) == ("failed", 3)
        assert row.ended_at is not None and row.ended_at >= row.started_at

    def test_a_run_ends_once(self, store: MetaStore) -> None:
        """Whoever ends a run first decides its status: the SDK, the runner, the API and the
        reaper all finish through one guarded update."""
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id)
            assert runs.finish_run(tx, run.id, "killed", exit_code=130)
            assert not runs.finish_run(tx, run.id, "finished", exit_code=0)
        row = runs.get_run(store, run.id)
        assert (row.status, row.exit_code) == ("killed", 130)

    def test_writes_share_the_callers_transaction(self, store: MetaStore) -> None:
        with pytest.raises(RuntimeError), store.db.write() as tx:
            runs.create_run(tx, store.project_id, params={"lr": 0.1}, tags={"a": "b"})
            raise RuntimeError("a later write of the same transaction failed")
        assert runs.count_runs(store) == 0

    def test_exhausted_number_allocation_is_one_clear_conflict(self, store: MetaStore) -> None:
        """Every insert failing the unique index (as under heavy concurrency on PostgreSQL)
        ends in one ``Conflict`` after the retries, not an unhandled error."""
        refuse_inserts(store.db, "runs")
        with pytest.raises(Conflict, match="no run number could be allocated") as caught, \
                store.db.write() as tx:
            runs.create_run(tx, store.project_id)
        assert "try again" in (caught.value.hint or "")

    def test_params_encode_the_same_from_values_and_texts(self, store: MetaStore) -> None:
        """A param logged here and one pushed as stored text are compared alike by filters."""
        values = {"lr": 0.1, "n": 3, "flag": True, "nan": math.nan, "name": "rf"}
        with store.db.write() as tx:
            logged = runs.create_run(tx, store.project_id, params=values)
            pushed = runs.create_run(tx, store.project_id)
            runs.write_param_texts(tx, pushed.id, runs.param_texts(store, logged.id))
        nums = {rid: dict(store.db.query("SELECT key, num FROM params WHERE run_id = ?", (rid,)))
                for rid in (logged.id, pushed.id)}
        assert nums[logged.id] == nums[pushed.id]
        assert nums[logged.id] == {"lr": 0.1, "n": 3.0, "flag": None, "nan": None, "name": None}

    def test_unknown_status_is_refused(self, store: MetaStore) -> None:
        with pytest.raises(InvalidInput), store.db.write() as tx:
            runs.create_run(tx, store.project_id, status="exploded")

    def test_dead_process_is_reaped_as_crashed(self, store: MetaStore) -> None:
        import subprocess
        import sys

        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id, pid=proc.pid)
            alive = runs.create_run(tx, store.project_id)  # this test process: still alive
        assert runs.reap_crashed(store) == 1
        assert runs.get_run(store, run.id).status == "crashed"
        assert runs.get_run(store, alive.id).status == "running"

    def test_stale_heartbeat_is_reaped(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id)
        with store.db.write() as w:
            w.execute("UPDATE runs SET heartbeat_at = heartbeat_at - ?, hostname = ? "
                      "WHERE id = ?", (runs.HEARTBEAT_TIMEOUT_MS + 1000, "elsewhere", run.id))
        runs.reap_crashed(store)
        assert runs.get_run(store, run.id).status == "crashed"


class TestMetrics:
    def test_series_round_trip_with_nan_and_inf(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id)
        values = [0.5, math.nan, math.inf, -math.inf, 1e-300]
        with store.db.write() as tx:
            write_series(tx, run.id, {"loss": series([0, 1, 2, 3, 4], values)})
        got = read_series(store, run.id, "loss")
        assert list(got.steps) == [0, 1, 2, 3, 4]
        assert got.values[0] == 0.5 and math.isnan(got.values[1])
        assert got.values[2] == math.inf and got.values[3] == -math.inf
        assert got.values[4] == 1e-300
        assert latest_metrics(store, [run.id])[run.id] == {"loss": 1e-300}

    def test_latest_follows_appends_and_counts(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id)
        with store.db.write() as tx:
            write_series(tx, run.id, {"acc": series([0, 1], [0.1, 0.2])})
        with store.db.write() as tx:
            write_series(tx, run.id, {"acc": series([2], [math.nan])})
        assert math.isnan(latest_metrics(store, [run.id])[run.id]["acc"])
        with store.db.write() as tx:
            write_series(tx, run.id, {"acc": series([3], [0.9])})
        assert latest_metrics(store, [run.id])[run.id] == {"acc": 0.9}
        assert len(read_series(store, run.id, "acc")) == 4
        from cairn.store.metrics import point_counts

        assert point_counts(store, run.id) == {"acc": 4}

    def test_large_series_is_chunked_and_complete(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            run = runs.create_run(tx, store.project_id)
        n = 50_000
        with store.db.write() as tx:
            write_series(tx, run.id, {"x": series(list(range(n)), [float(i) for i in range(n)])})
        got = read_series(store, run.id, "x")
        assert len(got) == n and got.values[-1] == n - 1
        chunks = store.db.query("SELECT COUNT(*) FROM metric_chunks WHERE run_id = ?", (run.id,))
        assert chunks[0][0] > 1


class TestReferences:
    def test_number_last_prefix_and_name(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            a = runs.create_run(tx, store.project_id, name="baseline")
        with store.db.write() as tx:
            b = runs.create_run(tx, store.project_id, name="tuned")
        assert resolve_run(store, "1").id == a.id
        assert resolve_run(store, "last").id == b.id
        assert resolve_run(store, b.id[:24]).id == b.id
        assert resolve_run(store, "baseline").id == a.id

    def test_unknown_reference(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            runs.create_run(tx, store.project_id)
        with pytest.raises(NotFound, match="no run matches 'nope'"):
            resolve_run(store, "nope")
        with pytest.raises(NotFound):
            resolve_run(store, "99")

    def test_ambiguous_name_lists_candidates(self, store: MetaStore) -> None:
        with store.db.write() as tx:
            runs.create_run(tx, store.project_id, name="same")
        with store.db.write() as tx:
            runs.create_run(tx, store.project_id, name="same")
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
