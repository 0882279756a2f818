"""A real ``cairn serve`` on 127.0.0.1, serving a registered scikit-learn model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import IrisProject, Server, cli, logged

FIRST = slice(0, 150, 7)  # rows of every class


@pytest.fixture(scope="module")
def direct(iris: IrisProject) -> list[int]:
    """What the registered model predicts when called in this process, through the SDK."""
    import os

    import cairn

    here = Path.cwd()
    os.chdir(iris.root)
    try:
        model = cairn.load_model("iris@production")
        return [int(v) for v in model.predict(iris.rows[FIRST])]
    finally:
        os.chdir(here)


def records(iris: IrisProject, rows: list[list[float]]) -> list[dict[str, float]]:
    return [dict(zip(iris.columns, r, strict=True)) for r in rows]


def test_predict_answers_rows_and_records_like_the_model(server: Server, iris: IrisProject,
                                                         direct: list[int]) -> None:
    rows = iris.rows[FIRST]
    for inputs in (rows, records(iris, rows)):
        answer = server.post("/predict", json={"inputs": inputs})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["predictions"] == direct
        assert body["model"] == "iris" and body["version"] == 1
        assert len(set(body["prediction_ids"])) == len(rows)
        assert all(p.startswith("p_") for p in body["prediction_ids"])


def test_mlflow_invocations_give_the_same_answers(server: Server, iris: IrisProject,
                                                  direct: list[int]) -> None:
    rows = iris.rows[FIRST]
    bodies: list[dict[str, Any]] = [
        {"dataframe_split": {"columns": iris.columns, "data": rows}},
        {"dataframe_records": records(iris, rows)},
        {"instances": rows},
        {"inputs": {c: [r[i] for r in rows] for i, c in enumerate(iris.columns)}},
    ]
    for body in bodies:
        answer = server.post("/invocations", json=body)
        assert answer.status_code == 200, (body, answer.text)
        assert answer.json()["predictions"] == direct
    csv = ",".join(iris.columns) + "\n" + "\n".join(",".join(map(str, r)) for r in rows)
    answer = server.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"] == direct
    assert server.get("/ping").status_code == 200


def test_open_inference_protocol(server: Server, iris: IrisProject, direct: list[int]) -> None:
    rows = iris.rows[FIRST]
    assert server.get("/v2/health/live").json() == {"live": True}
    meta = server.get("/v2/models/iris").json()
    assert meta["name"] == "iris" and meta["versions"] == ["1"]
    assert [i["name"] for i in meta["inputs"]] == iris.columns
    assert meta["outputs"][0] == {"name": "predict", "datatype": "INT64", "shape": [-1]}
    flat = [v for r in rows for v in r]
    matrix = {"id": "r1", "inputs": [{"name": "x", "shape": [len(rows), 4], "datatype": "FP64",
                                      "data": flat}]}
    answer = server.post("/v2/models/iris/infer", json=matrix)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["model_name"] == "iris" and body["model_version"] == "1" and body["id"] == "r1"
    out = body["outputs"][0]
    assert out["name"] == "predict" and out["shape"] == [len(rows)] and out["data"] == direct
    assert len(body["parameters"]["prediction_ids"]) == len(rows)
    per_column = {"inputs": [{"name": c, "shape": [len(rows)], "datatype": "FP32",
                              "data": [r[i] for r in rows]} for i, c in enumerate(iris.columns)],
                  "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}
    body = server.post("/v2/models/iris/versions/1/infer", json=per_column).json()
    assert body["outputs"][0]["data"] == direct
    proba = body["outputs"][1]
    assert proba["shape"] == [len(rows), 3]
    assert sum(proba["data"][:3]) == pytest.approx(1.0)


def test_health_and_discovery_endpoints(server: Server) -> None:
    index = server.get("/").json()
    assert index["model"] == "iris" and index["version"] == 1 and index["flavor"] == "sklearn"
    assert "POST /predict" in index["endpoints"]
    assert server.get("/health").status_code == 200
    assert server.get("/v2").json()["name"] == "cairn"
    assert server.get("/v2/models/iris/ready").json() == {"name": "iris", "ready": True}
    assert server.get("/v2/models/rose/ready").status_code == 404


JSON = {"content-type": "application/json"}
BAD: list[tuple[str, dict[str, Any], int, str]] = [
    ("/predict", {"content": b"{not json", "headers": JSON}, 400, "not valid JSON"),
    ("/predict", {"content": b"", "headers": JSON}, 400, "empty"),
    ("/predict", {"json": {"rows": [[1, 2, 3, 4]]}}, 400, "inputs"),
    ("/predict", {"json": {"inputs": []}}, 400, "empty"),
    ("/predict", {"json": {"inputs": [[1, 2, 3]]}}, 422, "4 values"),
    ("/predict", {"json": {"inputs": [[1, 2, "three", 4]]}}, 422, "'petal_length'"),
    ("/predict", {"json": {"inputs": [{"sepal_length": 1, "sepal_width": 2,
                                       "petal_length": 3}]}}, 422, "'petal_width'"),
    ("/predict", {"json": {"inputs": [{"sepal_length": 1, "sepal_width": 2, "petal_length": 3,
                                       "petal_width": 4, "colour": 5}]}}, 422, "'colour'"),
    ("/predict", {"json": {"inputs": [[1, 2, [3], 4]]}}, 422, "'petal_length'"),
    ("/predict", {"json": {"inputs": "1,2,3,4"}}, 400, "list"),
    ("/predict", {"content": b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
                  "headers": JSON}, 400, "nests too deeply"),
    ("/predict", {"content": b'{"inputs": [[1e999, 2, 3, 4]]}', "headers": JSON}, 422,
     "infinity"),
    ("/invocations", {"json": {"columns": [], "data": []}}, 400, "exactly one of"),
    ("/invocations", {"content": b"<a/>", "headers": {"content-type": "text/xml"}}, 415,
     "content type"),
    ("/invocations", {"content": b"a,b\n1,2\n", "headers": {"content-type": "text/csv"}}, 422,
     "column"),
    ("/v2/models/iris/infer", {"json": {"inputs": [{"name": "x", "shape": [1, 4],
                                                    "datatype": "FP64", "data": [1, 2]}]}},
     400, "needs 4"),
    ("/v2/models/iris/infer", {"json": {"inputs": [{"name": "x", "shape": [1, 4],
                                                    "datatype": "FP64",
                                                    "data": [1, 2, 3, "x"]}]}}, 422, "FP64"),
    ("/v2/models/other/infer", {"json": {"inputs": []}}, 404, "'iris'"),
    ("/v2/models/iris/versions/7/infer", {"json": {"inputs": []}}, 404, "version 1"),
    ("/feedback", {"json": {"label": 1}}, 400, "prediction_id"),
    ("/feedback", {"json": {"prediction_id": "p_" + "0" * 32, "label": 1}}, 404, "no logged"),
    ("/nowhere", {"json": {}}, 404, "no such endpoint"),
]


@pytest.mark.parametrize(("path", "request_kw", "status", "message"), BAD,
                         ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_requests_get_a_4xx_naming_the_problem(server: Server, path: str,
                                                   request_kw: dict[str, Any], status: int,
                                                   message: str) -> None:
    answer = server.post(path, **request_kw)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error["message"]
    assert error["code"]
    assert server.alive()


def test_a_body_over_the_limit_gets_413_and_the_server_keeps_serving(
        server: Server, iris: IrisProject) -> None:
    huge = b'{"inputs": [' + b"[1.0, 2.0, 3.0, 4.0]," * 900_000 + b"[1, 2, 3, 4]]}"
    answer = server.post("/predict", content=huge, headers=JSON)
    assert answer.status_code == 413
    assert "limit" in answer.json()["error"]["message"]
    assert server.post("/predict", json={"inputs": iris.rows[:1]}).status_code == 200


@pytest.mark.parametrize("query", [{"window": "abc"}, {"minutes": "nan"}, {"window": "0"},
                                   {"drift_window": "-5"}])
def test_bad_monitor_windows_are_refused(server: Server, query: dict[str, str]) -> None:
    answer = server.get("/monitor", params=query)
    assert answer.status_code == 400 and "window" in answer.json()["error"]["message"]


def test_wrong_methods_and_unknown_feedback_ids_are_json_errors(server: Server) -> None:
    answer = server.get("/predict")
    assert answer.status_code == 405 and answer.json()["error"]["code"] == "method_not_allowed"
    answer = server.post("/feedback", json=[{"prediction_id": "p_" + "1" * 32, "label": 0}])
    assert answer.status_code == 404
    assert answer.json()["error"]["unknown"] == ["p_" + "1" * 32]


def test_every_prediction_is_logged_with_its_inputs_and_version(
        server: Server, iris: IrisProject) -> None:
    rows = iris.rows[:3]
    ids = server.post("/predict", json={"inputs": rows}).json()["prediction_ids"]
    server.get("/monitor")  # flushes this worker's log queue
    found = {r[0]: r for r in logged(
        iris.root, "SELECT id, version, inputs, output, latency_ms FROM predictions "
                   f"WHERE id IN ({', '.join('?' for _ in ids)})", tuple(ids))}
    assert set(found) == set(ids)
    first = found[ids[0]]
    assert first[1] == 1
    assert json.loads(first[2]) == dict(zip(iris.columns, rows[0], strict=True))
    assert json.loads(first[3]) == 0 and first[4] > 0


def test_feedback_moves_the_live_accuracy(server: Server, iris: IrisProject) -> None:
    rows, labels = iris.rows[::3], iris.labels[::3]
    body = server.post("/predict", json={"inputs": rows}).json()
    ids, predicted = body["prediction_ids"], body["predictions"]
    truth = [{"prediction_id": p, "label": y} for p, y in zip(ids, labels, strict=True)]
    answer = server.post("/feedback", json=truth)
    assert answer.json() == {"accepted": len(ids), "duplicates": 0}
    expected = sum(p == y for p, y in zip(predicted, labels, strict=True)) / len(ids)
    live = server.get("/monitor", params={"window": len(ids)}).json()["live"]
    window = live[f"last_{len(ids)}"]
    assert window["n"] == len(ids)
    assert window["metrics"]["accuracy"] == pytest.approx(expected)
    assert set(window["metrics"]) == {"accuracy", "precision", "recall", "f1"}

    wrong = [{"prediction_id": p, "label": (y + 1) % 3} for p, y in zip(ids, predicted,
                                                                           strict=True)]
    for start in range(0, len(wrong), 10):  # labels one request at a time work as well
        server.post("/feedback", json=wrong[start:start + 10]).raise_for_status()
    report = server.get("/monitor", params={"window": len(ids)}).json()
    assert report["live"][f"last_{len(ids)}"]["metrics"]["accuracy"] == 0.0
    assert report["counts"]["feedback"] >= 2 * len(ids)
    metrics = server.get("/metrics").text
    assert 'cairn_live_metric{window="last_500",metric="accuracy"}' in metrics


def test_drift_rises_for_shifted_inputs_only(server: Server, iris: IrisProject) -> None:
    import random

    rng = random.Random(3)
    same = [rng.choice(iris.rows) for _ in range(300)]
    server.post("/predict", json={"inputs": same}).raise_for_status()
    drift = server.get("/monitor", params={"drift_window": 300}).json()["drift"]
    assert drift["dataset_drift"] is False, drift
    assert not any(f["drifted"] for f in drift["features"].values())

    shifted = [[r[0] + 2.0, r[1], r[2] + 3.0, r[3] * 3] for r in same]
    server.post("/predict", json={"inputs": shifted}).raise_for_status()
    report = server.get("/monitor", params={"drift_window": 300}).json()
    drift = report["drift"]
    assert report["dataset_drift"] is True
    features = drift["features"]
    assert features["petal_length"]["drifted"] and features["petal_length"]["psi"] > 0.2
    assert features["petal_length"]["ks_pvalue"] < 0.001
    assert features["sepal_width"]["drifted"] is False
    metrics = server.get("/metrics").text
    assert 'cairn_drift_psi{feature="petal_length"}' in metrics
    assert "cairn_drift_dataset 1" in metrics


def test_metrics_are_prometheus_text(server: Server) -> None:
    answer = server.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    for name in ("cairn_requests_total", "cairn_request_duration_seconds_bucket",
                 "cairn_request_errors_total", "cairn_predictions_total",
                 "cairn_feedback_total", "cairn_prediction_log_dropped_total"):
        assert f"# TYPE {name.removesuffix('_bucket')}" in text
    assert 'cairn_requests_total{endpoint="predict",status="200"}' in text
    assert 'le="+Inf"' in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])  # every sample is a number


def test_cairn_monitor_prints_the_same_report(server: Server, iris: IrisProject) -> None:
    served = server.get("/monitor").json()
    done = cli(iris.root, "monitor", "iris", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["version"] == 1
    assert report["counts"]["predictions"] == served["counts"]["predictions"]
    assert report["live"]["last_500"]["metrics"] == pytest.approx(
        served["live"]["last_500"]["metrics"])
    table = cli(iris.root, "monitor", "iris")
    assert table.returncode == 0, table.stderr
    text = table.stdout
    assert "iris@1 (production)" in text
    assert "accuracy" in text and "petal_length" in text
    assert any(ch in text for ch in "▁▂▃▄▅▆▇█")
    assert "dataset drift: yes" in text
