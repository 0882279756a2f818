"""Plain bad input answered with 4xx and one sentence, never a 500, a traceback or a page that
fails for every later reader; and one run cannot hold so many keys that listings explode.

Every test attacks real parts: a cairn server under uvicorn on 127.0.0.1 over a real SQLite
file, the ``cairn`` command in a subprocess, the SDK on a real project.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

import cairn
from cairn.errors import InvalidInput
from cairn.project import Project
from cairn.store import runs as run_store
from cairn.store.core import open_store
from tests.conftest import cairn_cli
from tests.server.live import LiveServer

JSON = {"content-type": "application/json"}


@pytest.fixture
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(auth=False)


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as made:
        yield made


def _raw_post(client: httpx.Client, path: str, doc: object) -> httpx.Response:
    """POST JSON written with ``ensure_ascii``: a lone surrogate goes out as its escape."""
    return client.post(path, content=json.dumps(doc), headers=JSON)


def _counts(project: Project) -> tuple[int, int, int, int]:
    store = open_store(project)
    try:
        return tuple(int(store.db.query_one(f"SELECT COUNT(*) FROM {t}")[0])  # type: ignore[index]
                     for t in ("runs", "params", "tags", "latest_metrics"))  # type: ignore[return-value]
    finally:
        store.close()


def _assert_error(reply: httpx.Response, status: int = 400) -> str:
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]["message"]
    assert isinstance(message, str) and "\n" not in message
    return message


# -- (a) text that is not valid Unicode --------------------------------------------------------
def test_lone_surrogates_refused_at_every_api_body(client: httpx.Client,
                                                   server_dir: Project) -> None:
    assert client.post("/api/v1/runs", json={"name": "ok"}).status_code == 201
    before = _counts(server_dir)
    attacks = [
        ("/api/v1/runs", {"name": "x", "params": {"p": "\ud800"}}),
        ("/api/v1/runs", {"name": "x", "params": {"\udfff": 1}}),
        ("/api/v1/runs", {"name": "x", "message": "bad \ud83d"}),
        ("/api/v1/runs", {"name": "x", "tags": {"team": "\udc80"}}),
        ("/api/v1/runs/1/tags", {"tags": {"\ud800": "v"}}),
        ("/api/v1/runs/1/params", {"params": {"p": ["deep", {"k": "\ud800"}]}}),
        ("/api/v1/runs/1/metrics", {"metrics": [{"key": "\ud800", "value": 1}]}),
        ("/api/v1/runs", {"name": "nul\u0000"}),
    ]
    for path, doc in attacks:
        message = _assert_error(_raw_post(client, path, doc))
        assert "request body" in message
    patched = client.patch("/api/v1/runs/1", content=json.dumps({"message": "\ud800"}),
                           headers=JSON)
    _assert_error(patched)
    assert _counts(server_dir) == before
    # A valid pair of surrogates is an emoji, and it is stored as one.
    assert _raw_post(client, "/api/v1/runs/1/tags", {"tags": {"mood": "\U0001f600"}}
                     ).status_code == 200


def test_pages_render_text_stored_before_the_check(client: httpx.Client,
                                                   server_dir: Project) -> None:
    """A run stored with a lone surrogate (through the store, as before) breaks no page."""
    store = open_store(server_dir)
    try:
        with store.db.write() as tx:
            odd = run_store.create_run(
                tx, store.project_id, name="odd", params={"p": "\ud800", "q": 1},
            )
        with store.db.write() as tx:
            plain = run_store.create_run(
                tx, store.project_id, name="plain", params={"p": "x", "q": 2},
            )
    finally:
        store.close()
    html = {"accept": "text/html"}
    for path in ("/", f"/runs/{odd.number}",
                 f"/compare?runs={odd.number}&runs={plain.number}",
                 f"/api/v1/runs/{odd.number}", "/api/v1/runs"):
        reply = client.get(path, headers=html)
        assert reply.status_code == 200, (path, reply.text[:300])
    assert "\\ud800" in client.get(f"/runs/{odd.number}", headers=html).text


@pytest.fixture
def sdk_project(project: Project) -> Iterator[Project]:
    """The project, for SDK calls made in this process; the SDK forgets its store afterwards.

    The SDK keeps the store it opened for the life of the process, so without this a later
    test's ``cairn.load_model`` would look in this test's project.
    """
    from cairn.sdk import api

    yield project
    if api._store is not None:
        api._store.close()
    api._store = api._project = None


def test_sdk_refuses_bad_text(sdk_project: Project) -> None:
    project = sdk_project
    run = cairn.init(name="sdk")
    try:
        with pytest.raises(InvalidInput, match="not valid Unicode"):
            cairn.log({"\ud800": 1.0})
        with pytest.raises(InvalidInput, match="not valid Unicode"):
            cairn.log_params({"p": "\udfff"})
        with pytest.raises(InvalidInput, match="not valid Unicode"):
            cairn.set_tags({"\ud800": "x"})
        with pytest.raises(InvalidInput, match="64-bit"):
            cairn.log({"loss": 1.0}, step=2**63)
        with pytest.raises(InvalidInput, match="not valid Unicode"):
            cairn.init(name="again", params={"p": "\ud800"})
        cairn.log({"loss": 0.5})
    finally:
        cairn.finish()
    store = open_store(project)
    try:
        assert run_store.get_params(store, [run.id])[run.id] == {}
        assert run_store.get_tags(store, [run.id])[run.id] == {}
        keys = [r[0] for r in store.db.query("SELECT key FROM latest_metrics WHERE run_id = ?",
                                             (run.id,))]
        assert keys == ["loss"]
    finally:
        store.close()


def test_cli_refuses_arguments_that_are_not_utf8(project: Project) -> None:
    for args in ([b"run", b"--tag", b"k=\xff", b"--", b"true"], [b"show", b"\xed\xa0\x80"],
                 [b"ls", b"--filter", b"name = \xff"]):
        done = subprocess.run([sys.executable, "-m", "cairn", *args], cwd=project.root,
                              capture_output=True, check=False)
        err = done.stderr.decode()
        assert done.returncode == 2, err
        assert "not valid Unicode" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    assert _counts(project)[0] == 0


# -- (a) bounded keys and bounded listings -------------------------------------------------------
def test_metric_key_flood_refused_whole(client: httpx.Client, server_dir: Project) -> None:
    client.post("/api/v1/runs", json={"name": "flood"})
    flood = {"metrics": [{"key": f"k{i}", "value": 1.0} for i in range(100_000)]}
    message = _assert_error(client.post("/api/v1/runs/1/metrics", json=flood))
    assert "limit of 1,000" in message
    assert _counts(server_dir)[3] == 0  # nothing of the batch was written
    ok = {"metrics": [{"key": f"k{i}", "value": 1.0} for i in range(1000)]}
    assert client.post("/api/v1/runs/1/metrics", json=ok).status_code == 200
    again = client.post("/api/v1/runs/1/metrics", json=ok)  # the same keys: still 1,000
    assert again.status_code == 200
    _assert_error(client.post("/api/v1/runs/1/metrics",
                              json={"metrics": [{"key": "one-more", "value": 1}]}))
    params = {"params": {f"p{i}": i for i in range(1001)}}
    _assert_error(client.post("/api/v1/runs/1/params", json=params))
    _assert_error(client.post("/api/v1/runs", json={"params": params["params"]}))
    _assert_error(client.post("/api/v1/runs/1/tags",
                              json={"tags": {f"t{i}": "x" for i in range(1001)}}))
    assert _counts(server_dir)[:3] == (1, 0, 0)
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200 and len(page.content) < 200_000
    assert "more keys not listed" in page.text


def test_key_limit_is_a_setting(start_server: Callable[..., LiveServer],
                                server_dir: Project) -> None:
    (server_dir.store_dir / "config.toml").write_text("[limits]\nmetric_keys = 3\n")
    live = start_server(auth=False)
    with httpx.Client(base_url=live.url, timeout=30) as c:
        c.post("/api/v1/runs", json={"name": "small"})
        four = {"metrics": [{"key": k, "value": 1} for k in "abcd"]}
        assert "limit of 3" in _assert_error(c.post("/api/v1/runs/1/metrics", json=four))


def test_sdk_metric_key_limit(sdk_project: Project) -> None:
    cairn.init(name="many")
    try:
        cairn.log({f"k{i}": 1.0 for i in range(1000)})
        with pytest.raises(InvalidInput, match="limit of 1,000"):
            cairn.log({"k1001": 1.0})
        cairn.log({"k1": 2.0})
    finally:
        cairn.finish()


def test_ls_chooses_columns(project: Project) -> None:
    store = open_store(project)
    try:
        from cairn.store.metrics import write_series
        from cairn.store.series import Series

        for n in range(3):
            with store.db.write() as tx:
                run = run_store.create_run(
                    tx, store.project_id, name=f"r{n}", params={"lr": n, "depth": 3},
                )
            series = {}
            for i in range(1000):
                s = Series.empty()
                s.steps.append(0)
                s.values.append(float(i + n))
                s.times.append(0)
                series[f"metric_with_a_long_name_{i:04d}"] = s
            with store.db.write() as tx:
                write_series(tx, run.id, series)
    finally:
        store.close()
    done = cairn_cli("ls", cwd=project.root, env={"COLUMNS": "120"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert "more columns not shown" in done.stdout + done.stderr
    chosen = cairn_cli("ls", "--columns", "params.lr,metrics.metric_with_a_long_name_0007",
                       cwd=project.root)
    assert chosen.returncode == 0, chosen.stderr
    header = chosen.stdout.splitlines()[0]
    assert "lr" in header and "metric_with_a_lo" in header and "depth" not in header
    bad = cairn_cli("ls", "--columns", "bogus", cwd=project.root)
    assert bad.returncode == 2 and "metrics.KEY or params.KEY" in bad.stderr


# -- (b) server errors on plain bad input --------------------------------------------------------
ENDPOINTS = ("/runs/{r}", "/runs/{r}/params", "/runs/{r}/tags", "/runs/{r}/metrics",
             "/runs/{r}/metrics/loss", "/runs/{r}/artifacts", "/runs/{r}/artifacts/a.txt",
             "/runs/{r}/logs", "/runs/{r}/lineage", "/runs/resolve?ref={r}")


def test_unicode_digit_references(client: httpx.Client, project: Project) -> None:
    client.post("/api/v1/runs", json={"name": "one"})
    seen = []
    for ref in ("¹", "٣", "1²", "①"):
        for path in ENDPOINTS:
            reply = client.get("/api/v1" + path.format(r=ref))
            seen.append(reply.status_code)
            _assert_error(reply, 404)
    assert all(s == 404 for s in seen) and len(seen) == 40
    done = cairn_cli("show", "¹", cwd=project.root)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("cairn: error: no run matches '¹'")


@pytest.mark.parametrize("expr", [
    "started_at > 1e30", "started_at = 9999-12-31", "started_at < -inf", "ended_at > 1e400",
    "started_at > -99999999999w", "duration > 1e30",
    "metrics.a > 1 or " * 600 + "status = finished",
    " or ".join(["metrics.a > 1"] * 300),
    "(" * 200 + "status = finished" + ")" * 200,
    "not " * 60 + "status = finished",
    "not (" * 30 + "status = finished" + ")" * 30,
    "metrics.a in (" + ",".join(["1"] * 400) + ")",
    "number > ¹", "metrics.a > ٣",
])
def test_filters_refused_or_answered_never_5xx(client: httpx.Client, project: Project,
                                              expr: str) -> None:
    reply = client.get("/api/v1/runs", params={"filter": expr})
    assert reply.status_code in (200, 400), reply.text
    if reply.status_code == 400:
        assert reply.json()["error"]["code"] == "invalid_filter"
    done = cairn_cli("ls", "--filter", expr, cwd=project.root)
    assert done.returncode in (0, 2) and "Traceback" not in done.stderr, done.stderr
    assert reply.status_code != 200 or done.returncode == 0
    page = client.get("/", params={"filter": expr}, headers={"accept": "text/html"})
    assert page.status_code in (200, 400)


def test_step_and_time_beyond_int64(client: httpx.Client, server_dir: Project) -> None:
    client.post("/api/v1/runs", json={"name": "steps"})
    for point in ({"step": 2**63}, {"step": -(2**63) - 1}, {"timestamp": 2**63},
                  {"timestamp": 10**30}):
        body = {"metrics": [{"key": "loss", "value": 1.0, **point}]}
        _assert_error(client.post("/api/v1/runs/1/metrics", json=body))
    _assert_error(client.patch("/api/v1/runs/1", json={"status": "failed",
                                                       "exit_code": 2**63}))
    assert _counts(server_dir)[3] == 0


def _cursor(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def test_tampered_cursors(client: httpx.Client) -> None:
    for _ in range(3):
        client.post("/api/v1/runs", json={})
    first = client.get("/api/v1/runs", params={"limit": 1}).json()
    assert first["next_cursor"]
    for cursor in (_cursor({"f": "", "s": "", "n": "abc"}), _cursor({"f": "", "s": "", "n": []}),
                   _cursor({"f": "", "s": "", "n": 10**40}), _cursor([1]), _cursor("x"),
                   _cursor({"f": "", "s": "", "o": -5}), "%%%", "A" * 5000,
                   _cursor({"f": "", "s": "", "n": 1.5}), _cursor({"f": ""})):
        _assert_error(client.get("/api/v1/runs", params={"cursor": cursor}))
        _assert_error(client.get("/api/v1/runs", params={"cursor": cursor, "sort": "number"}))
    ok = client.get("/api/v1/runs", params={"limit": 1, "cursor": first["next_cursor"]})
    assert ok.status_code == 200 and len(ok.json()["runs"]) == 1


def test_deep_json_bodies(client: httpx.Client, server_dir: Project) -> None:
    client.post("/api/v1/runs", json={"name": "deep"})
    before = _counts(server_dir)
    for depth in (1000, 100_000):
        deep = '{"params": {"p": ' + "[" * depth + "]" * depth + "}}"
        reply = client.post("/api/v1/runs/1/params", content=deep, headers=JSON)
        assert 400 <= reply.status_code < 500, reply.text
    assert _counts(server_dir) == before


def test_limit_settings_are_checked(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.settings import load_settings

    assert load_settings(project.store_dir).max_metric_keys == 1000
    monkeypatch.setenv("CAIRN_MAX_PARAMS", "lots")
    with pytest.raises(InvalidInput, match="CAIRN_MAX_PARAMS"):
        load_settings(project.store_dir)
    monkeypatch.setenv("CAIRN_MAX_PARAMS", "5")
    assert load_settings(project.store_dir).max_params == 5


def test_method_not_allowed_names_the_allowed(client: httpx.Client) -> None:
    reply = client.put("/api/v1/server", headers={"X-Cairn-Client": "test"})
    assert reply.status_code == 405 and reply.headers["allow"] == "GET"
    assert reply.json()["error"]["code"] == "method_not_allowed"


def test_openapi_declares_400_not_422(client: httpx.Client) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    ours = {path: ops for path, ops in doc["paths"].items()
            if path.startswith("/api/v1/runs")}
    for ops in ours.values():
        for op in ops.values():
            assert "422" not in op["responses"]
            assert {"400", "404"} <= set(op["responses"])
