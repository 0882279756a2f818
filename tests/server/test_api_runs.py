"""The runs API against a real uvicorn server over a real SQLite store."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx

from cairn.project import Project
from cairn.store import runs as run_store
from cairn.store.core import open_store
from cairn.store.metrics import write_series
from cairn.store.series import Series
from tests.conftest import cairn_cli
from tests.server.live import LiveServer

Api = Callable[..., httpx.Client]


def _series(values: list[float]) -> Series:
    s = Series.empty()
    for i, v in enumerate(values):
        s.steps.append(i)
        s.values.append(v)
        s.times.append(1_000 + i)
    return s


def _seed(project: Project, n: int) -> list[str]:
    """``n`` finished runs with an ``acc`` metric of i/n and a ``model`` param."""
    store = open_store(project)
    ids = []
    for i in range(n):
        with store.db.write() as tx:
            run = run_store.create_run(
                tx, store.project_id, name=f"r{i}",
                params={"model": "rf" if i % 2 else "lr", "depth": i},
            )
        with store.db.write() as tx:
            write_series(tx, run.id, {"acc": _series([i / n])})
        with store.db.write() as tx:
            run_store.finish_run(tx, run.id)
        ids.append(run.id)
    store.close()
    return ids


def test_list_filters_sorts_and_pages_through_every_run(server_dir: Project, api: Api) -> None:
    _seed(server_dir, 23)
    client = api("reader")
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"filter": "metrics.acc >= 0.5", "limit": 5}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/runs", params=params).json()
        seen += [r["number"] for r in body["runs"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = sorted((i + 1 for i in range(23) if i / 23 >= 0.5), reverse=True)
    assert seen == expected and pages == 3

    by_acc: list[float] = []
    cursor = None
    while True:
        params = {"sort": "-metrics.acc", "limit": 10, "filter": "params.model = rf"}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/runs", params=params).json()
        by_acc += [r["metrics"]["acc"] for r in body["runs"]]
        assert all(r["params"]["model"] == "rf" for r in body["runs"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert by_acc == sorted(by_acc, reverse=True) and len(by_acc) == 11


def test_a_malformed_filter_is_a_400_with_its_position(api: Api) -> None:
    reply = api("reader").get("/runs", params={"filter": "metrics.acc >> 0.5"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "invalid_filter"
    assert "column 14" in error["message"] and error["position"] == 13


def test_cursors_are_checked(server_dir: Project, api: Api) -> None:
    _seed(server_dir, 3)
    client = api("reader")
    first = client.get("/runs", params={"limit": 1}).json()
    other = client.get("/runs", params={"limit": 1, "filter": "status = finished",
                                        "cursor": first["next_cursor"]})
    assert other.status_code == 400
    assert "another filter" in other.json()["error"]["message"]
    garbage = client.get("/runs", params={"cursor": "not-a-cursor!"})
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "invalid_input"


def test_a_run_reads_as_cairn_show_json(server_dir: Project, api: Api) -> None:
    _seed(server_dir, 2)
    shown = cairn_cli("show", "--json", "r1", cwd=server_dir.root)
    assert shown.returncode == 0, shown.stderr
    got = api("reader").get("/runs/r1").json()
    assert got == json.loads(shown.stdout)
    assert api("reader").get("/runs/last").json()["number"] == 2


def test_create_log_and_finish_a_run_then_writes_are_refused(api: Api) -> None:
    client = api("writer")
    made = client.post("/runs", json={"name": "remote", "params": {"lr": 0.1},
                                      "tags": {"team": "nlp"}})
    assert made.status_code == 201
    run = made.json()
    assert run["status"] == "running" and run["created_by"] == "wes"
    points = [{"key": "loss", "value": 1 / (i + 1), "step": i} for i in range(50)]
    assert client.post(f"/runs/{run['id']}/metrics", json={"metrics": points}).status_code == 200
    assert client.post(f"/runs/{run['id']}/params",
                       json={"params": {"depth": 4}}).json()["params"] == {"depth": 4, "lr": 0.1}
    done = client.patch(f"/runs/{run['id']}", json={"status": "finished", "name": "renamed"})
    assert done.json()["status"] == "finished" and done.json()["name"] == "renamed"

    late = client.post(f"/runs/{run['id']}/metrics",
                       json={"metrics": [{"key": "loss", "value": 9.0}]})
    assert late.status_code == 409
    assert "finished" in late.json()["error"]["message"]
    again = client.patch(f"/runs/{run['id']}", json={"status": "failed"})
    assert again.status_code == 409
    # nothing already recorded was lost
    after = client.get(f"/runs/{run['id']}").json()
    assert after["metric_points"] == {"loss": 50} and after["status"] == "finished"
    assert client.post(f"/runs/{run['id']}/tags", json={"tags": {"ok": "yes"}}).json()[
        "tags"] == {"ok": "yes", "team": "nlp"}


def test_bad_requests_are_json_4xx_never_html(live: LiveServer, api: Api) -> None:
    client = api("writer")
    checks = [
        client.post("/runs", content=b"{not json", headers={"content-type": "application/json"}),
        client.post("/runs", json={"status": "sleeping"}),
        client.get("/runs", params={"limit": "many"}),
        client.get("/runs/does-not-exist"),
        client.get("/no/such/endpoint"),
        client.delete("/runs"),
        client.post("/runs/1/metrics", json={"metrics": [{"key": "", "value": 1}]}),
    ]
    statuses = [r.status_code for r in checks]
    assert statuses == [400, 400, 400, 404, 404, 405, 400]
    for reply in checks:
        assert reply.headers["content-type"].startswith("application/json")
        error = reply.json()["error"]
        assert error["code"] and error["message"] and "Traceback" not in error["message"]


def test_openapi_is_published(live: LiveServer) -> None:
    spec = httpx.get(f"{live.url}/api/v1/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/v1/runs", "/api/v1/runs/{ref}", "/api/v1/objects/missing",
                 "/api/v1/objects/{oid}", "/api/v1/runs/{run_id}/bundle",
                 "/api/v1/runs/{ref}/metrics/{key}", "/api/v1/runs/resolve"):
        assert path in paths, path


def test_projects_and_whoami(api: Api, server_dir: Project) -> None:
    me = api("reader").get("/whoami").json()
    assert me == {"user": "rita", "role": "reader", "project": server_dir.root.name}
    projects = api("reader").get("/projects").json()["projects"]
    assert [p["name"] for p in projects] == [server_dir.root.name]
    assert projects[0]["role"] == "reader"


def test_the_server_binds_localhost_by_default(tmp_path: Path) -> None:
    from cairn._http.guard import is_loopback
    from cairn.cli.server_cmds import server

    host = next(p for p in server.params if p.name == "host")
    assert host.default == "127.0.0.1" and is_loopback(str(host.default))
    assert not is_loopback("0.0.0.0")
