"""The prediction log writes every row once, never blocks, and counts what it must drop."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from cairn._util.ids import now_ms, uuid7_hex
from cairn.errors import InvalidInput, NotFound, UnknownPredictions
from cairn.model_server.feedback import (
    apply_feedback,
    parse_feedback,
    submit_feedback,
)
from cairn.model_server.predictions import PredictionLog, new_prediction_id, prediction_time_ms
from cairn.project import Project
from cairn.store import predictions
from cairn.store.core import MetaStore, open_store
from cairn.store.db import Database
from cairn.store.predictions import LogCounts, LogRow, log_counts, recent_predictions


def add_model(store: MetaStore, name: str = "churn") -> str:
    model_id = uuid7_hex()
    with store.db.write() as w:
        w.execute("INSERT INTO models (id, project_id, name, created_at) VALUES (?, ?, ?, ?)",
                  (model_id, store.project_id, name, now_ms()))
    return model_id


def rows(model_id: str, n: int, version: int = 1) -> list[LogRow]:
    return [(new_prediction_id(), model_id, version, now_ms(), [i, i * 2], i % 2, 0.1)
            for i in range(n)]


@pytest.fixture
def store(project: Project) -> MetaStore:
    return open_store(project)


@pytest.fixture(params=["one JSON statement", "bound values (SQLite before 3.38)"])
def insert_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways the writer inserts a batch into SQLite."""
    if request.param != "one JSON statement":
        monkeypatch.setattr(predictions, "SQLITE_JSON_INSERT", False)
    return str(request.param)


def test_every_row_is_written_once(store: MetaStore, insert_path: str) -> None:
    model_id = add_model(store)
    log = PredictionLog(store.db, batch_size=100, interval_s=0.05)
    log.start()
    written = rows(model_id, 1234)
    for start in range(0, len(written), 7):
        log.record(written[start:start + 7])
    assert log.flush()
    log.close()
    assert log_counts(store.db, model_id).predictions == 1234
    assert log.written == 1234 and log.dropped == 0
    newest = recent_predictions(store.db, model_id, limit=1)[0]
    assert newest.inputs == [1233, 2466] and newest.output == 1


ODD_VALUES: list[tuple[object, object]] = [
    ({"age": 41, "plan": "pro \"gold\"", "churned": True}, "yes"),
    ([0.1 + 0.2, -1e-300, 12345678901234567890], 0.30000000000000004),
    ([None, "ünïcode ✓", [1, [2, 3]]], [0.25, 0.75]),
    ([1.0], True),
    ([2.0], None),
    ([float("nan"), float("inf")], float("-inf")),  # JSON has neither: null and "inf"
]


def test_inputs_and_outputs_come_back_as_they_were_logged(store: MetaStore,
                                                          insert_path: str) -> None:
    model_id = add_model(store)
    log = PredictionLog(store.db)
    made: list[LogRow] = [(new_prediction_id(), model_id, 1, 1_000 + i, x, y, 0.5)
                          for i, (x, y) in enumerate(ODD_VALUES)]
    log.record(made)
    assert log.flush() and log.written == len(made)
    back = sorted(recent_predictions(store.db, model_id), key=lambda p: p.created_at)
    assert [(p.inputs, p.output) for p in back[:-1]] == ODD_VALUES[:-1]
    assert (back[-1].inputs, back[-1].output) == ([None, "inf"], "-inf")
    assert isinstance(back[3].output, bool) and back[0].version == 1


def test_a_batch_written_twice_keeps_one_copy_of_each_row(store: MetaStore,
                                                          insert_path: str) -> None:
    """A commit whose answer was lost is retried; the rows already in are skipped."""
    model_id = add_model(store)
    made = rows(model_id, 30)
    first = PredictionLog(store.db)
    first.record(made[:20])
    assert first.flush()
    again = PredictionLog(store.db)
    again.record(made)
    assert again.flush()
    assert log_counts(store.db, model_id).predictions == 30


def test_the_writer_takes_what_waits_and_leaves_later_rows_for_its_next_turn(
        store: MetaStore) -> None:
    """Rows arriving during a write wait for the next wake-up instead of turning the
    writer into a stream of tiny transactions that compete with the requests."""
    model_id = add_model(store)
    log = PredictionLog(store.db, batch_size=10)
    insert = log._insert
    arrivals = iter([rows(model_id, 3), rows(model_id, 4)])

    def insert_while_requests_arrive(batch: list[LogRow]) -> None:
        insert(batch)
        log.record(next(arrivals, []))

    log._insert = insert_while_requests_arrive  # type: ignore[method-assign]
    log.record(rows(model_id, 25))
    log._write_pending()
    assert (log.written, log.pending) == (25, 7)  # three batches; the 7 late rows wait
    log._write_pending()
    assert (log.written, log.pending) == (32, 0)


def test_rows_of_a_deleted_model_are_dropped_and_counted_not_retried(
        store: MetaStore) -> None:
    model_id = add_model(store)
    log = PredictionLog(store.db)
    log.record(rows("no-such-model", 5) + rows(model_id, 0))
    assert log.flush(timeout=5)
    assert (log.written, log.dropped, log.pending) == (0, 5, 0)
    log.record(rows(model_id, 2))
    assert log.flush() and log.written == 2


def counted_from_rows(db: Database, model_id: str, version: int | None = None) -> LogCounts:
    """The log's counts worked out from the predictions themselves, by a full scan."""
    sql = ("SELECT COUNT(*), COUNT(labelled_at), COALESCE(SUM(feedback_count), 0), "
           "MIN(created_at), MAX(created_at) FROM predictions WHERE model_id = ?")
    params: list[object] = [model_id]
    if version is not None:
        sql += " AND version = ?"
        params.append(version)
    r = db.query_one(sql, params) or (0, 0, 0, None, None)
    return LogCounts(int(r[0]), int(r[1]), int(r[2]), r[3], r[4])


def mixed_traffic(db: Database, churn: str, other: str) -> None:
    """Two models, two versions, a batch written twice, new labels and relabels."""
    log = PredictionLog(db, batch_size=50)
    v1, v2, o = rows(churn, 120, version=1), rows(churn, 80, version=2), rows(other, 30)
    log.record(v1[:60] + o + v2)  # models and versions mixed within batches
    assert log.flush()
    log.record(v1)  # the first 60 again: skipped, and not counted twice
    assert log.flush()
    apply_feedback(db, churn, [(r[0], "1") for r in v1[:10] + v2[:5]])
    apply_feedback(db, churn, [(r[0], "0") for r in v1[:3]])  # three relabels
    log.close()


def test_counts_are_kept_as_the_log_is_written_and_match_its_rows(
        store: MetaStore, insert_path: str) -> None:
    churn, other = add_model(store, "churn"), add_model(store, "other")
    mixed_traffic(store.db, churn, other)
    for model, version in ((churn, 1), (churn, 2), (churn, None), (other, None), (other, 5)):
        assert log_counts(store.db, model, version) == counted_from_rows(store.db, model,
                                                                          version)
    v1 = log_counts(store.db, churn, 1)
    assert (v1.predictions, v1.labelled, v1.feedback) == (120, 10, 13)


def test_the_monitors_queries_read_indexes_not_the_whole_log(store: MetaStore) -> None:
    """Labelled predictions, newest first, come from their own index; counts from theirs."""
    model_id = add_model(store)
    plans = {}
    for name, sql in {
        "labelled": "SELECT id FROM predictions WHERE model_id = ? AND version = ? AND "
                    "labelled_at IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 500",
        "recent": "SELECT id FROM predictions WHERE model_id = ? AND version = ? "
                  "ORDER BY created_at DESC, id DESC LIMIT 1000",
    }.items():
        plans[name] = " ".join(str(r[-1]) for r in store.db.query(
            "EXPLAIN QUERY PLAN " + sql, (model_id, 1)))
    assert "ix_predictions_labelled" in plans["labelled"], plans
    assert "ix_predictions_model_time" in plans["recent"], plans


def test_a_full_queue_drops_and_counts_instead_of_blocking(store: MetaStore) -> None:
    model_id = add_model(store)
    log = PredictionLog(store.db, max_queue=50)  # no writer thread: nothing drains the queue
    log.record(rows(model_id, 40))
    log.record(rows(model_id, 30))
    assert log.pending == 50 and log.dropped == 20
    log.close()
    assert log_counts(store.db, model_id).predictions == 50


def test_rows_the_store_refuses_at_shutdown_are_kept_in_a_file(project: Project,
                                                                tmp_path: Path) -> None:
    store = open_store(project)
    model_id = add_model(store)
    broken = Database(f"sqlite:///{tmp_path / 'missing' / 'cairn.db'}")
    log = PredictionLog(broken, spill_dir=project.store_dir / "serving")
    log.record(rows(model_id, 5))
    log.close()
    spilled = list((project.store_dir / "serving").glob("unwritten-predictions-*.jsonl"))
    assert len(spilled) == 1
    kept = [json.loads(line) for line in spilled[0].read_text().splitlines()]
    assert [k["model_id"] for k in kept] == [model_id] * 5
    assert log.spilled == 5


def test_prediction_ids_carry_their_time() -> None:
    pid = new_prediction_id()
    assert pid.startswith("p_") and len(pid) == 34
    assert abs((prediction_time_ms(pid) or 0) - now_ms()) < 5_000
    assert prediction_time_ms("p_nothex") is None


def test_feedback_labels_counts_duplicates_and_refuses_unknown_ids(store: MetaStore) -> None:
    model_id = add_model(store)
    log = PredictionLog(store.db)
    made = rows(model_id, 4)
    log.record(made)
    log.flush()
    ids = [r[0] for r in made]
    result = apply_feedback(store.db, model_id, parse_feedback(
        [{"prediction_id": ids[0], "label": 1}, {"prediction_id": ids[1], "label": 0}]))
    assert result.to_json() == {"accepted": 2, "duplicates": 0}
    again = apply_feedback(store.db, model_id, parse_feedback({"prediction_id": ids[0],
                                                               "label": 0}))
    assert again.duplicates == 1
    with pytest.raises(UnknownPredictions) as err:
        apply_feedback(store.db, model_id, parse_feedback(
            [{"prediction_id": ids[2], "label": 1}, {"prediction_id": "p_" + "0" * 32,
                                                      "label": 1}]))
    assert err.value.ids == ["p_" + "0" * 32] and isinstance(err.value, NotFound)
    labelled = {p.id: p.label for p in recent_predictions(store.db, model_id, labelled=True)}
    assert labelled == {ids[0]: 0, ids[1]: 0}  # the refused batch recorded nothing
    counts = log_counts(store.db, model_id)
    assert (counts.labelled, counts.feedback) == (2, 3)


def test_feedback_for_another_model_is_unknown(store: MetaStore) -> None:
    churn, other = add_model(store, "churn"), add_model(store, "other")
    log = PredictionLog(store.db)
    made = rows(other, 1)
    log.record(made)
    log.flush()
    with pytest.raises(UnknownPredictions):
        apply_feedback(store.db, churn, [(made[0][0], "1")])


@pytest.mark.parametrize(("body", "message"), [
    ([], "empty"),
    ({"label": 1}, "prediction_id"),
    ({"prediction_id": "p_1"}, "label is missing"),
    ([{"prediction_id": "p_1", "label": 1}, 5], "item 1"),
    ({"prediction_id": 7, "label": 1}, "prediction_id"),
])
def test_malformed_feedback_is_refused(body: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_feedback(body)


def test_feedback_waits_for_a_prediction_still_on_its_way(store: MetaStore) -> None:
    model_id = add_model(store)
    late = rows(model_id, 1)
    writer = PredictionLog(store.db)

    def arrive_later() -> None:
        time.sleep(0.3)
        writer.record(late)
        writer.flush()

    thread = threading.Thread(target=arrive_later)
    thread.start()
    result = submit_feedback(store.db, model_id, [(late[0][0], "1")])
    thread.join()
    assert result.accepted == 1


def test_the_log_works_on_postgresql(pg_url: str, project: Project,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_DB", pg_url)
    store = open_store(project)
    model_id = add_model(store)
    log = PredictionLog(store.db, batch_size=64, interval_s=0.05)
    log.start()
    made = rows(model_id, 300)
    log.record(made)
    log.flush()
    log.record(made[:10])  # written again: skipped, not duplicated
    odd = [(new_prediction_id(), model_id, 2, 1_000 + i, x, y, 0.5)
           for i, (x, y) in enumerate(ODD_VALUES)]
    log.record(odd)
    log.flush()
    log.close()
    assert log_counts(store.db, model_id, version=1).predictions == 300
    churn, other = add_model(store, "churn2"), add_model(store, "other")
    mixed_traffic(store.db, churn, other)
    for model, version in ((churn, 1), (churn, 2), (churn, None), (other, None)):
        assert log_counts(store.db, model, version) == counted_from_rows(store.db, model,
                                                                          version)
    back = sorted(recent_predictions(store.db, model_id, version=2), key=lambda p: p.created_at)
    assert [(p.inputs, p.output) for p in back[:-1]] == ODD_VALUES[:-1]
    result = apply_feedback(store.db, model_id, [(r[0], "1") for r in made[:100]])
    assert result.accepted == 100
    assert len(recent_predictions(store.db, model_id, labelled=True, limit=500)) == 100
    store.close()


def test_concurrent_feedback_requests_share_commits(store: MetaStore) -> None:
    import asyncio

    from cairn.model_server.feedback import FeedbackWriter

    model_id = add_model(store)
    log = PredictionLog(store.db)
    made = rows(model_id, 200)
    log.record(made)
    log.flush()
    writer = FeedbackWriter(store.db, model_id)
    stranger = "p_" + "0" * 32

    async def main() -> list[object]:
        singles = [writer.submit([(r[0], "1")]) for r in made]
        bad = writer.submit([(made[0][0], "0"), (stranger, "1")])
        return await asyncio.gather(*singles, bad, return_exceptions=True)

    *results, refused = asyncio.run(main())
    assert all(getattr(r, "accepted", None) == 1 for r in results)
    assert isinstance(refused, UnknownPredictions) and refused.ids == [stranger]
    assert writer.commits < 200  # requests that arrived together were written together
    counts = log_counts(store.db, model_id)
    assert (counts.labelled, counts.feedback) == (200, 200)  # the refused request wrote nothing
