"""Attacks on ``cairn serve``: amplified requests, cross-site writes, oversized labels, tokens.

Each test performs the attack against a real ``cairn serve`` subprocess on 127.0.0.1 (the
servers of ``tests/serving/conftest.py``) and reads what it left straight from the project's
SQLite file: a refused request must leave no prediction and no label behind.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cairn.cli.serve_cmds import serve_auth
from cairn.project import Project
from tests.server.live import make_token
from tests.serving.conftest import (  # noqa: F401  (iris is a fixture)
    PYTHON,
    IrisProject,
    Server,
    cli,
    iris,
    logged,
    ok,
    wait_for,
)

JSON = {"content-type": "application/json"}
# 82 bytes that asked for two million empty rows: answered in 11.6 s with 82 MB, all logged
SHAPE_ATTACK = (b'{"inputs": [{"name": "x", "shape": [2000000, 0], "datatype": "FP64", '
                b'"data": []}]}')

RAW_MODEL = """
import cairn
cairn.log_model(lambda rows: [len(r) for r in rows], "model")
"""


@pytest.fixture(scope="module")
def server(iris: IrisProject) -> Iterator[Server]:  # noqa: F811
    srv = Server(iris.root, "iris@production")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def raw_server(iris: IrisProject) -> Iterator[Server]:  # noqa: F811
    """A model without a table signature (a plain function), whose OIP input is one tensor."""
    (iris.root / "raw.py").write_text(RAW_MODEL)
    ok(cli(iris.root, "run", "--name", "raw", "--", PYTHON, "raw.py"))
    ok(cli(iris.root, "model", "register", "raw:model", "--name", "raw"))
    srv = Server(iris.root, "raw@1")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def auth_server(iris: IrisProject) -> Iterator[Server]:  # noqa: F811
    srv = Server(iris.root, "iris@production", "--auth", "--max-rows", "5")
    yield srv
    srv.stop()


def predictions(root: Path) -> int:
    return int(logged(root, "SELECT COUNT(*) FROM predictions")[0][0])


def label_of(root: Path, pid: str) -> Any:
    [(label,)] = logged(root, "SELECT label FROM predictions WHERE id = ?", (pid,))
    return label


def settle(srv: Server, root: Path, rows: list[list[float]] | list[list[int]],
           headers: dict[str, str] | None = None) -> str:
    """Make one valid prediction and wait until it is in the log, so that whatever an earlier
    request queued has been written too; answers its id."""
    answer = srv.post("/predict", json={"inputs": rows[:1]}, headers=headers)
    assert answer.status_code == 200, answer.text
    pid = str(answer.json()["prediction_ids"][0])
    wait_for(lambda: bool(logged(root, "SELECT 1 FROM predictions WHERE id = ?", (pid,))))
    return pid


def one_sentence(answer: httpx.Response) -> str:
    message = str(answer.json()["error"]["message"])
    assert "\n" not in message and len(message) < 300, message
    return message


# -- amplification ----------------------------------------------------------------------------
@pytest.mark.parametrize("which", ["raw_server", "server"])
def test_the_82_byte_shape_attack_is_refused_fast_and_logs_nothing(
        request: pytest.FixtureRequest, iris: IrisProject, which: str) -> None:  # noqa: F811
    srv: Server = request.getfixturevalue(which)
    name = "raw" if which == "raw_server" else "iris"
    rows: list[list[Any]] = [[1.0]] if which == "raw_server" else iris.rows
    settle(srv, iris.root, rows)
    before = predictions(iris.root)
    assert len(SHAPE_ATTACK) == 82
    started = time.perf_counter()
    answer = srv.post(f"/v2/models/{name}/infer", content=SHAPE_ATTACK, headers=JSON)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 400, answer.text[:300]
    assert "shape" in one_sentence(answer)
    assert elapsed < 2 and len(answer.content) < 1000
    settle(srv, iris.root, rows)
    assert predictions(iris.root) == before + 1  # only the settling prediction


def test_shape_and_data_must_agree_for_every_input(raw_server: Server, server: Server,
                                                   iris: IrisProject) -> None:  # noqa: F811
    before = predictions(iris.root)
    good = {"name": "a", "shape": [2, 1], "datatype": "FP64", "data": [1, 2]}
    short = {"name": "b", "shape": [3, 1], "datatype": "FP64", "data": [1, 2]}
    answer = raw_server.post("/v2/models/raw/infer", json={"inputs": [good, short]})
    assert answer.status_code == 400 and "needs 3" in one_sentence(answer)
    columns = [{"name": n, "shape": [2], "datatype": "FP64", "data": [1.0, 2.0]}
               for n in iris.columns]
    columns[3] = {**columns[3], "shape": [3]}
    answer = server.post("/v2/models/iris/infer", json={"inputs": columns})
    assert answer.status_code == 400 and "needs 3" in one_sentence(answer)
    settle(server, iris.root, iris.rows)
    assert predictions(iris.root) == before + 1


def test_more_rows_than_the_cap_get_413_on_every_protocol(raw_server: Server, server: Server,
                                                          iris: IrisProject) -> None:  # noqa: F811
    rows = [iris.rows[i % 150] for i in range(10_001)]
    csv = ",".join(iris.columns) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    attempts: list[tuple[Server, str, dict[str, Any]]] = [
        (server, "/predict", {"json": {"inputs": rows}}),
        (server, "/predict", {"json": {"inputs": {c: [r[i] for r in rows]
                                                  for i, c in enumerate(iris.columns)}}}),
        (server, "/invocations", {"json": {"dataframe_split": {"columns": iris.columns,
                                                                "data": rows}}}),
        (server, "/invocations", {"json": {"instances": rows}}),
        (server, "/invocations", {"content": csv.encode(), "headers": {"content-type":
                                                                        "text/csv"}}),
        (server, "/v2/models/iris/infer", {"json": {"inputs": [
            {"name": "x", "shape": [10_001, 4], "datatype": "FP64", "data": rows}]}}),
        (raw_server, "/predict", {"json": {"inputs": [[1.0]] * 10_001}}),
        (raw_server, "/invocations", {"json": {"instances": [[1.0]] * 10_001}}),
        (raw_server, "/v2/models/raw/infer", {"json": {"inputs": [
            {"name": "x", "shape": [10_001, 1], "datatype": "FP64", "data": [1.0] * 10_001}]}}),
    ]
    before = predictions(iris.root)
    for srv, path, kw in attempts:
        answer = srv.post(path, **kw)
        assert answer.status_code == 413, (path, answer.text[:300])
        assert "at most 10,000" in one_sentence(answer)
    settle(server, iris.root, iris.rows)
    assert predictions(iris.root) == before + 1


# -- cross-site writes ------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["text/plain;charset=UTF-8",
                                          "application/x-www-form-urlencoded", None])
def test_json_sent_as_a_simple_cross_site_request_is_refused(
        server: Server, iris: IrisProject, content_type: str | None) -> None:  # noqa: F811
    """What a page on any site can make a browser send here without asking: refused, unstored.

    The shared HTTP guard answers 403 to a simple cross-site write; the protocols' own
    content-type check (415) stands behind it.
    """
    pid = settle(server, iris.root, iris.rows)
    before = predictions(iris.root)
    headers = {"content-type": content_type} if content_type else {}
    poison = json.dumps({"prediction_id": pid, "label": "POISON"}).encode()
    answer = server.post("/feedback", content=poison, headers=headers)
    assert answer.status_code in (403, 415) and one_sentence(answer)
    for path, body in (("/predict", {"inputs": iris.rows[:3]}),
                       ("/invocations", {"instances": iris.rows[:3]}),
                       ("/v2/models/iris/infer", {"inputs": [
                           {"name": "x", "shape": [1, 4], "datatype": "FP64",
                            "data": iris.rows[0]}]})):
        answer = server.post(path, content=json.dumps(body).encode(), headers=headers)
        assert answer.status_code in (403, 415), (path, answer.text)
    time.sleep(0.5)  # the log writer wakes every 0.2 s: anything queued would be written now
    assert label_of(iris.root, pid) is None
    assert predictions(iris.root) == before


def test_a_huge_label_is_refused_whole_and_not_stored(server: Server,
                                                      iris: IrisProject) -> None:  # noqa: F811
    first, second = (settle(server, iris.root, iris.rows) for _ in range(2))
    huge = "x" * 5_000_000
    answer = server.post("/feedback", json=[{"prediction_id": first, "label": 1},
                                            {"prediction_id": second, "label": huge}])
    assert answer.status_code == 413, answer.text[:300]
    assert label_of(iris.root, first) is None and label_of(iris.root, second) is None
    nested = {"prediction_id": first, "label": [[1.5] * 1000] * 100}  # 500 KB of JSON
    answer = server.post("/feedback", json=nested)
    assert answer.status_code == 413 and "at most 65,536" in one_sentence(answer)
    assert label_of(iris.root, first) is None
    edge = "y" * (64 * 1024 - 2)  # exactly 64 KiB once quoted
    assert server.post("/feedback", json={"prediction_id": first, "label": edge}
                       ).status_code == 200
    assert json.loads(label_of(iris.root, first)) == edge


# -- tokens -----------------------------------------------------------------------------------
def test_with_auth_feedback_needs_a_writer_and_predictions_a_reader(
        auth_server: Server, iris: IrisProject) -> None:  # noqa: F811
    project = Project(root=iris.root, store_dir=iris.root / ".cairn")
    suffix = uuid.uuid4().hex[:6]
    reader = {"authorization": f"Bearer {make_token(project, 'r' + suffix, 'reader')}"}
    writer = {"authorization": f"Bearer {make_token(project, 'w' + suffix, 'writer')}"}
    assert auth_server.get("/ping").status_code == 200  # health checks need no token
    assert auth_server.get("/v2/health/ready").status_code == 200
    refused = auth_server.post("/predict", json={"inputs": iris.rows[:1]})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert auth_server.get("/monitor").status_code == 401
    pid = settle(auth_server, iris.root, iris.rows, headers=reader)
    label = {"prediction_id": pid, "label": 2}

    answer = auth_server.post("/feedback", json=label)
    assert answer.status_code == 401 and "token" in one_sentence(answer)
    bogus = {"authorization": "Bearer cairn_" + "A" * 43}
    assert auth_server.post("/feedback", json=label, headers=bogus).status_code == 401
    answer = auth_server.post("/feedback", json=label, headers=reader)
    assert answer.status_code == 403 and "writer role" in one_sentence(answer)
    assert label_of(iris.root, pid) is None
    answer = auth_server.post("/feedback", json=label, headers=writer)
    assert answer.status_code == 200, answer.text
    assert json.loads(label_of(iris.root, pid)) == 2

    # --max-rows reaches the server
    five = auth_server.post("/predict", json={"inputs": iris.rows[:5]}, headers=reader)
    assert five.status_code == 200
    six = auth_server.post("/predict", json={"inputs": iris.rows[:6]}, headers=reader)
    assert six.status_code == 413 and "at most 5" in one_sentence(six)


def test_a_revoked_token_is_refused_by_the_model_server_on_its_next_request(
        auth_server: Server, iris: IrisProject) -> None:  # noqa: F811
    project = Project(root=iris.root, store_dir=iris.root / ".cairn")
    name = "v" + uuid.uuid4().hex[:6]
    token = make_token(project, name, "writer")
    headers = {"authorization": f"Bearer {token}"}
    pid = settle(auth_server, iris.root, iris.rows, headers=headers)
    revoked = cli(iris.root, "server", "token", "revoke", token)
    assert revoked.returncode == 0, revoked.stderr
    refused = auth_server.post("/feedback", json={"prediction_id": pid, "label": 1},
                               headers=headers)
    assert refused.status_code == 401 and "revoked" in one_sentence(refused)
    assert label_of(iris.root, pid) is None
    assert auth_server.post("/predict", json={"inputs": iris.rows[:1]},
                            headers=headers).status_code == 401


@pytest.mark.parametrize(("host", "flag", "predictions", "feedback"), [
    ("127.0.0.1", None, False, False),
    ("localhost", None, False, False),
    ("::1", None, False, False),
    ("0.0.0.0", None, False, True),
    ("::", None, False, True),
    ("192.168.1.20", None, False, True),
    ("0.0.0.0", False, False, False),
    ("127.0.0.1", True, True, True),
    ("0.0.0.0", True, True, True),
])
def test_listening_beyond_localhost_makes_feedback_need_a_token(
        host: str, flag: bool | None, predictions: bool, feedback: bool) -> None:
    """Every server a test starts binds 127.0.0.1, so the decision is tested where it is made."""
    access = serve_auth(host, flag)
    assert (access.predictions, access.feedback) == (predictions, feedback)


def test_serve_help_says_when_tokens_are_needed(iris: IrisProject) -> None:  # noqa: F811
    text = " ".join(ok(cli(iris.root, "serve", "--help")).split())
    assert "--max-rows" in text and "--no-auth" in text
    assert "anything but localhost makes /feedback need a writer's token" in text
