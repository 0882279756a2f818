"""Exporting a labelled prediction log, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import pytest

from cairn._util.ids import uuid7_hex
from cairn.errors import MissingExtra
from cairn.model_server.feedback import apply_feedback
from cairn.model_server.predictions import PredictionLog, new_prediction_id
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import snapshot_dir
from cairn.retrain import feedback
from cairn.store.core import MetaStore
from cairn.store.predictions import count_labelled


@pytest.fixture
def store(any_store: MetaStore) -> MetaStore:
    return any_store


def _model(store: MetaStore) -> str:
    model = uuid7_hex()
    with store.db.write() as w:
        w.execute("INSERT INTO models (id, project_id, name, created_at) VALUES (?, ?, ?, ?)",
                  (model, store.project_id, "churn", 0))
    return model


def _log(store: MetaStore, model: str, inputs: list[object], times: list[int],
         labels: list[int | None]) -> list[str]:
    """Predictions written by the serving code, then labelled through its feedback code."""
    ids = [new_prediction_id() for _ in inputs]
    log = PredictionLog(store.db)
    log.record([(pid, model, 1, t, x, 0, 1.0)
                for pid, x, t in zip(ids, inputs, times, strict=True)])
    assert log.flush()
    apply_feedback(store.db, model, [(pid, json.dumps(y))
                                     for pid, y in zip(ids, labels, strict=True) if y is not None])
    return ids


def test_export_writes_all_but_the_newest_in_order(store: MetaStore, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feedback, "_PAGE", 4)  # several pages, ties on created_at between them
    model = _model(store)
    inputs: list[object] = [{"a": i, "b": i / 2} for i in range(13)]
    times = [1000 + i // 3 for i in range(13)]
    labels: list[int | None] = [i % 2 for i in range(13)]
    labels[5] = labels[12] = None  # not labelled: never exported
    _log(store, model, inputs, times, labels)
    assert count_labelled(store.db, model) == 11

    data = feedback.export(store.db, model, tmp_path / "out" / "churn.csv", ["a", "b"],
                           "target", 3)

    rows = list(csv.reader((tmp_path / "out" / "churn.csv").open()))
    assert rows[0] == ["a", "b", "target"]
    assert [int(r[0]) for r in rows[1:]] == [0, 1, 2, 3, 4, 6, 7, 8]
    assert [r[2] for r in rows[1:]] == ["0", "1", "0", "1", "0", "0", "1", "0"]
    assert data.rows == 8
    assert [r.inputs["a"] for r in data.holdout] == [9, 10, 11]
    assert [r.label for r in data.holdout] == [1, 0, 1]
    assert (data.first_at, data.last_at) == (1000, 1002)


def test_rows_logged_as_lists_are_read_by_position(store: MetaStore, tmp_path: Path) -> None:
    model = _model(store)
    _log(store, model, [[1.5, 2.5], [3.5]], [1, 2], [1, 0])
    columns = feedback.feature_columns(None, [1.5, 2.5])

    feedback.export(store.db, model, tmp_path / "x.csv", columns, "label", 0)

    assert (tmp_path / "x.csv").read_text().splitlines() == ["0,1,label", "1.5,2.5,1",
                                                             "3.5,,0"]


def test_the_label_column_is_the_extra_column_of_the_training_csv(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b,churned\n1,2,0\n")
    (data / "notes.txt").write_text("not a table\n")
    objects = LocalObjectStore(tmp_path / "objects")
    tree = snapshot_dir(objects, data)

    assert feedback.guess_label_column(objects, [("data", tree.oid, True)], ["a", "b"]) == \
        "churned"
    assert feedback.guess_label_column(objects, [("data", tree.oid, True)], ["a", "z"]) is None


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None,
                    reason="pyarrow is installed here")
def test_parquet_without_pyarrow_says_what_to_install() -> None:
    with pytest.raises(MissingExtra) as caught:
        feedback.require_format("parquet")
    assert caught.value.hint == "pip install pyarrow, or use --format csv"
