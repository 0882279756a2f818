"""Under concurrent load, with one worker or several, the log holds every prediction once."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.serving.conftest import IrisProject, Server, cli, logged, ok, train_and_register


def hammer(url: str, iris: IrisProject, requests: int = 500,
           threads: int = 16) -> tuple[list[str], dict[int, set[Any]]]:
    """``requests`` single-row predictions from ``threads`` clients: every answer's ids, and
    the answers given for each iris row."""
    rng = random.Random(0)
    picks = [rng.randrange(len(iris.rows)) for _ in range(requests)]

    def send(chunk: list[int]) -> list[tuple[int, str, Any]]:
        out = []
        with httpx.Client(base_url=url, timeout=60) as client:
            for i in chunk:
                answer = client.post("/predict", json={"inputs": [iris.rows[i]]})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                out.append((i, body["prediction_ids"][0], body["predictions"][0]))
        return out

    chunks = [picks[i::threads] for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        results = [r for part in pool.map(send, chunks) for r in part]
    answers: dict[int, set[Any]] = {}
    for i, _pid, prediction in results:
        answers.setdefault(i, set()).add(prediction)
    return [pid for _i, pid, _p in results], answers


def logged_ids(iris: IrisProject, ids: list[str]) -> list[str]:
    found: list[str] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found += [r[0] for r in logged(
            iris.root, f"SELECT id FROM predictions WHERE id IN ({', '.join('?' * len(chunk))})",
            tuple(chunk))]
    return found


@pytest.mark.parametrize("options", [[], ["--workers", "2"],
                                     ["--batch-max-size", "8", "--batch-max-latency-ms", "5"]],
                         ids=["one-worker", "two-workers", "micro-batched"])
def test_concurrent_requests_are_all_logged_once(iris: IrisProject, options: list[str]) -> None:
    server = Server(iris.root, "iris@1", *options)
    try:
        expected = server.post("/predict", json={"inputs": iris.rows}).json()["predictions"]
        ids, answers = hammer(server.url, iris)
        batches = [line for line in server.get("/metrics").text.splitlines()
                   if line.startswith("cairn_model_batches_total ")]
    finally:
        output = server.stop()  # a clean stop drains every worker's queue
    assert "Traceback" not in output
    assert all(answers[i] == {expected[i]} for i in answers)  # batching changes no answer
    assert len(ids) == 500 == len(set(ids))
    found = logged_ids(iris, ids)
    assert sorted(found) == sorted(ids)  # every one written, none twice
    kept = logged(iris.root, "SELECT SUM(predictions), SUM(feedback) FROM prediction_stats")
    scanned = logged(iris.root, "SELECT COUNT(*), SUM(feedback_count) FROM predictions")
    assert kept == scanned  # the counts /monitor shows, kept right by every worker
    if "--batch-max-size" in options:
        assert 0 < float(batches[0].split()[1]) < 500  # requests did share model calls


def test_feedback_in_bulk_is_applied_in_one_go(iris: IrisProject) -> None:
    server = Server(iris.root, "iris@1")
    try:
        rows = [iris.rows[i % 150] for i in range(3000)]
        ids = server.post("/predict", json={"inputs": rows}).json()["prediction_ids"]
        labels = [{"prediction_id": p, "label": iris.labels[i % 150]} for i, p in enumerate(ids)]
        answer = server.post("/feedback", json=labels)
        assert answer.json() == {"accepted": 3000, "duplicates": 0}
        again = server.post("/feedback", json=labels[:10])
        assert again.json() == {"accepted": 10, "duplicates": 10}
        counts = server.get("/monitor").json()["counts"]
        assert counts["labelled"] >= 3000 and counts["feedback"] >= 3010
    finally:
        server.stop()


def test_a_moved_alias_takes_effect_at_restart(tmp_path_factory: pytest.TempPathFactory,
                                               iris: IrisProject) -> None:
    root = tmp_path_factory.mktemp("alias")
    (root / "train.py").write_text((iris.root / "train.py").read_text())
    ok(cli(root, "init"))
    assert train_and_register(root, "flower", 1.0) == 1
    ok(cli(root, "model", "alias", "flower@1", "production"))
    row = {"inputs": [iris.rows[60]]}

    first = Server(root, "flower@production")
    try:
        before = first.post("/predict", json=row).json()
        assert train_and_register(root, "flower", 0.01) == 2
        ok(cli(root, "model", "alias", "flower@2", "production"))
        during = first.post("/predict", json=row).json()
        assert during["version"] == 1  # a running server keeps the version it started with
    finally:
        first.stop()
    second = Server(root, "flower@production")
    try:
        after = second.post("/predict", json=row).json()
        assert second.get("/v2/models/flower").json()["versions"] == ["2"]
    finally:
        second.stop()
    assert (before["version"], after["version"]) == (1, 2)
    answered = dict(logged(root, "SELECT id, version FROM predictions"))
    assert answered[before["prediction_ids"][0]] == 1
    assert answered[during["prediction_ids"][0]] == 1
    assert answered[after["prediction_ids"][0]] == 2
    done = cli(root, "monitor", "flower", "--json")
    assert done.returncode == 0, done.stderr
    assert '"version": 2' in done.stdout  # the version that answered last


def test_serve_refuses_what_it_cannot_serve_in_one_sentence(iris: IrisProject) -> None:
    for args, message in ((["nosuch@1"], "no registered model is named 'nosuch'"),
                          (["iris@9"], "has no version 9"),
                          (["iris@staging"], "has no alias 'staging'"),
                          (["iris@1", "--port", "70000"], "--port")):
        done = cli(iris.root, "serve", *args)
        assert done.returncode != 0
        assert message in done.stderr and "Traceback" not in done.stderr
    server = Server(iris.root, "iris@1")
    try:
        busy = cli(iris.root, "serve", "iris@1", "--port", str(server.port))
        assert busy.returncode == 1 and "already in use" in busy.stderr
        assert server.alive()
    finally:
        server.stop()
    missing = cli(iris.root, "monitor", "nosuch")
    assert missing.returncode == 2 and "no registered model" in missing.stderr
