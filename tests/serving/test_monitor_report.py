"""The monitor report over a real store: windows by count and by time, history, drift."""

from __future__ import annotations

import json

import numpy as np

from cairn._util.ids import now_ms
from cairn.model_server.feedback import apply_feedback
from cairn.model_server.predictions import PredictionLog, new_prediction_id
from cairn.models.profile import build_profile
from cairn.monitoring.drift import profile_features
from cairn.monitoring.report import Deployment, MonitorSettings, monitor_report
from cairn.project import Project
from cairn.store.core import open_store
from cairn.store.predictions import LogRow
from tests.serving.test_prediction_log import add_model

PROFILE = profile_features(build_profile(np.random.default_rng(1).normal(size=(2000, 1))))


def test_windows_by_count_and_by_time(project: Project) -> None:
    store = open_store(project)
    model_id = add_model(store)
    now = now_ms()
    hour = 3_600_000
    rng = np.random.default_rng(0)
    rows: list[LogRow] = []
    for i in range(200):
        at = now - 3 * hour + i if i < 100 else now - 1000 + i  # 100 old, 100 recent
        rows.append((new_prediction_id(), model_id, 1, at, [float(rng.normal())],
                     i % 2, 0.2))
    log = PredictionLog(store.db)
    log.record(rows)
    log.flush()
    # the old half is always right, the recent half always wrong
    labels = [(r[0], json.dumps(i % 2 if i < 100 else 1 - i % 2)) for i, r in enumerate(rows)]
    apply_feedback(store.db, model_id, labels)
    dep = Deployment("m", model_id, 1, "classification", PROFILE, ["0"])
    report = monitor_report(store.db, dep, MonitorSettings(labelled_window=150,
                                                           minutes_window=60))
    assert report["counts"]["predictions"] == 200 and report["counts"]["labelled"] == 200
    by_count = report["live"]["last_150"]
    assert by_count["n"] == 150
    assert by_count["metrics"]["accuracy"] == 50 / 150  # 100 recent wrong + 50 old right
    by_time = report["live"]["last_60m"]
    assert by_time["n"] == 100 and by_time["metrics"]["accuracy"] == 0.0
    history = report["live_history"]
    assert len(history) == 15
    assert history[0]["metrics"]["accuracy"] == 1.0 and history[-1]["metrics"]["accuracy"] == 0
    drift = report["drift"]
    assert drift["features"]["0"]["drifted"] is False
    assert report["dataset_drift"] is False
    assert len(drift["psi_history"]["0"]) > 1


def test_a_model_without_profile_reports_no_drift_verdict(project: Project) -> None:
    store = open_store(project)
    model_id = add_model(store)
    dep = Deployment("m", model_id, 1, None, {}, [])
    report = monitor_report(store.db, dep)
    assert report["dataset_drift"] is None
    assert "no training-data profile" in report["drift"]["note"]
    assert report["live"]["last_500"]["n"] == 0
