"""``cairn retrain`` end to end: a served model, its labelled predictions, a linked new version."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

from cairn.model_server.feedback import apply_feedback
from cairn.model_server.predictions import PredictionLog, new_prediction_id
from cairn.models.registry import model_id
from cairn.objects.local import LocalObjectStore
from cairn.project import find_project
from cairn.store.core import open_store
from cairn.store.runs import get_run
from tests.conftest import PYTHON
from tests.retrain.conftest import PRODUCTION_ROWS, Served, runs, versions
from tests.serving.conftest import clean_env, cli, ok


def _untracked(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), cwd=root, env=clean_env(), capture_output=True, text=True,
                          timeout=180, check=False)


def _model(root: Path, ref: str) -> dict[str, object]:
    shown: dict[str, object] = json.loads(ok(cli(root, "model", "show", ref, "--json")))
    return shown


def _input_text(root: Path, oid: str) -> str:
    return LocalObjectStore(root / ".cairn" / "objects").get_bytes(oid).decode()


def test_retrain_forks_the_training_run_and_registers_a_compared_candidate(
        served: Served) -> None:
    root = served.root
    done = cli(root, "retrain", "churn@production", "--holdout", "12", "--json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    new_run = result["run"]["number"]
    assert result["version"] == 2 and result["alias"] == "candidate"
    assert result["feedback"]["rows"] == PRODUCTION_ROWS - 12
    assert result["feedback"]["label_column"] == "outcome"  # found in the training CSV
    err = done.stderr
    assert f"forked run 1 with 48 labelled production rows → run {new_run}" in err
    assert "candidate churn@2: f1 " in err and " vs production " in err
    assert "on the last 12 labelled predictions" in err
    assert "registered churn version 2 (alias candidate)" in err
    assert "promote: cairn model alias churn@2 production" in err
    assert "Promotion stays a human decision." in err

    fork = json.loads(ok(cli(root, "show", str(new_run), "--json")))
    training = json.loads(ok(cli(root, "show", "1", "--json")))
    assert fork["status"] == "finished"
    assert fork["lineage"]["forked_from"] == training["id"]
    inputs = {i["path"]: i for i in fork["inputs"]}
    assert set(inputs) == {"cairn-feedback/churn.csv", "data"}
    assert inputs["data"]["oid"] == training["inputs"][0]["oid"]
    exported = list(csv.reader(io.StringIO(_input_text(root, inputs["cairn-feedback/churn.csv"]
                                                       ["oid"]))))
    assert exported[0] == ["a", "b", "c", "outcome"]
    # every labelled prediction but the 12 newest, in the order they were made
    assert [[float(v) for v in row[:3]] for row in exported[1:]] == \
        [[r["a"], r["b"], r["c"]] for r in served.rows[:48]]
    assert [int(row[3]) for row in exported[1:]] == served.labels[:48]
    project = find_project(root)
    assert project is not None
    store = open_store(project)
    try:  # what a rebuild needs to point the script at the restored file again
        note = get_run(store, fork["id"]).record.fork
    finally:
        store.close()
    assert note is not None
    assert note.env_inputs == {"CAIRN_FEEDBACK_DATA": "cairn-feedback/churn.csv"}
    logs = ok(cli(root, "logs", str(new_run)))
    assert "feedback rows 48 columns a,b,c,outcome" in logs  # the script read the file

    candidate = _model(root, "churn@2")
    assert candidate["aliases"] == ["candidate"]
    assert candidate["run_id"] == fork["id"]
    record = candidate["record"]
    assert isinstance(record, dict)
    comparison = record["comparison"]
    assert comparison["rows"] == 12 and comparison["task"] == "classification"
    assert comparison["metric"] == "f1" and comparison["against_version"] == 1
    for side in ("candidate", "current"):
        assert comparison[side]["n"] == 12
        assert 0.0 <= comparison[side]["accuracy"] <= 1.0
        assert 0.0 <= comparison[side]["f1"] <= 1.0
    assert comparison["candidate"] == result["comparison"]["candidate"]
    assert record["label_column"] == "outcome"
    assert _model(root, "churn@production")["version"] == 1  # promotion is left to a person


def test_retrain_without_labelled_predictions_says_so_and_registers_nothing(
        served: Served) -> None:
    root = served.root
    ok(cli(root, "model", "register", "1:model", "--name", "fresh"))
    project = find_project(root)
    assert project is not None
    store = open_store(project)
    try:  # predictions logged by the serving code, none of them labelled
        fresh = model_id(store, "fresh")
        log = PredictionLog(store.db)
        log.record([(new_prediction_id(), fresh, 1, 1_700_000_000_000 + i,
                     served.rows[i], 1, 0.5) for i in range(5)])
        assert log.flush()
    finally:
        store.close()
    before = runs(root)

    done = cli(root, "retrain", "fresh@latest")

    assert done.returncode == 2
    assert done.stderr.startswith("cairn: error: fresh has no labelled predictions yet")
    assert "Traceback" not in done.stderr
    assert runs(root) == before
    assert versions(root, "fresh") == [1]


def test_a_holdout_that_leaves_nothing_to_train_on_is_refused(served: Served) -> None:
    root = served.root
    before = (runs(root), versions(root, "churn"))

    done = cli(root, "retrain", "churn@production", "--holdout", str(PRODUCTION_ROWS))

    assert done.returncode == 2
    assert "leaves no labelled predictions to train on (churn has 60)" in done.stderr
    assert (runs(root), versions(root, "churn")) == before


def test_an_unknown_model_is_one_sentence(served: Served) -> None:
    done = cli(served.root, "retrain", "nosuch@production")

    assert done.returncode == 2
    assert done.stderr.startswith("cairn: error: no registered model is named 'nosuch'")


def test_a_failed_training_run_registers_nothing(served: Served) -> None:
    root = served.root
    ok(cli(root, "run", "-i", "data", "--", PYTHON, "train.py", "--fail-on-feedback"))
    trained = runs(root)[0]
    ok(cli(root, "model", "register", f"{trained['number']}:model", "--name", "fragile"))
    ok(cli(root, "model", "alias", "fragile@1", "production"))
    project = find_project(root)
    assert project is not None
    store = open_store(project)
    try:  # predictions and labels written by the serving code's own log and feedback
        fragile = model_id(store, "fragile")
        ids = [new_prediction_id() for _ in range(10)]
        log = PredictionLog(store.db)
        log.record([(pid, fragile, 1, 1_700_000_000_000 + i, served.rows[i], 0, 0.5)
                    for i, pid in enumerate(ids)])
        assert log.flush()
        apply_feedback(store.db, fragile, [(pid, json.dumps(served.labels[i]))
                                           for i, pid in enumerate(ids)])
    finally:
        store.close()

    done = cli(root, "retrain", "fragile@production")

    assert done.returncode == 1
    fork = runs(root)[0]
    assert f"the training run {fork['number']} ended failed (exit 3); nothing was registered" \
        in done.stderr
    assert fork["status"] == "failed"
    assert versions(root, "fragile") == [1]


def test_a_model_from_a_run_cairn_did_not_launch_cannot_be_retrained(served: Served) -> None:
    root = served.root
    script = ("import cairn, pandas as pd\n"
              "from sklearn.linear_model import LogisticRegression\n"
              "X = pd.DataFrame({'a': [0.0, 1.0], 'b': [1.0, 0.0], 'c': [0.0, 0.0]})\n"
              "cairn.log_model(LogisticRegression().fit(X, [0, 1]), 'model', example=X)\n")
    (root / "notebook.py").write_text(script)
    ok(_untracked(root, PYTHON, "notebook.py"))  # an SDK run, no cairn run
    sdk_run = runs(root)[0]
    ok(cli(root, "model", "register", f"{sdk_run['number']}:model", "--name", "adhoc"))
    project = find_project(root)
    assert project is not None
    store = open_store(project)
    try:
        adhoc = model_id(store, "adhoc")
        pid = new_prediction_id()
        log = PredictionLog(store.db)
        log.record([(pid, adhoc, 1, 1, served.rows[0], 0, 0.5)])
        assert log.flush()
        apply_feedback(store.db, adhoc, [(pid, "1")])
    finally:
        store.close()
    before = runs(root)

    done = cli(root, "retrain", "adhoc@1", "--holdout", "0")

    assert done.returncode == 2
    assert "which cairn did not launch" in done.stderr.splitlines()[0]
    assert runs(root) == before
    assert versions(root, "adhoc") == [1]
