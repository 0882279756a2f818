"""Metric history, artifacts, logs and lineage over HTTP."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from cairn.project import Project
from cairn.runner.artifacts import add_path
from cairn.store import runs as run_store
from cairn.store.core import open_store
from cairn.store.metrics import write_series
from cairn.store.series import Series
from tests.server.live import LiveServer

Api = Callable[..., httpx.Client]


def test_a_long_series_is_downsampled_keeping_shape_min_and_max(server_dir: Project,
                                                                api: Api) -> None:
    n = 200_000
    s = Series.empty()
    for i in range(n):
        s.steps.append(i)
        s.values.append(math.sin(i / 5000))
        s.times.append(i)
    s.values[77_777] = 40.0   # a spike that must survive
    s.values[150_001] = -40.0
    store = open_store(server_dir)
    with store.db.write() as tx:
        run = run_store.create_run(tx, store.project_id, name="long")
    with store.db.write() as tx:
        write_series(tx, run.id, {"loss": s})
    store.close()
    reply = api("reader").get("/runs/long/metrics/loss", params={"max_points": 500}).json()
    assert reply["total_points"] == n and reply["downsampled"] is True
    assert len(reply["values"]) <= 500
    assert max(reply["values"]) == 40.0 and min(reply["values"]) == -40.0
    assert reply["steps"][0] == 0 and reply["steps"][-1] == n - 1
    assert reply["steps"] == sorted(reply["steps"])
    # the shape: every kept point lies on the original curve
    assert all(v == s.values[step] for step, v in zip(reply["steps"], reply["values"],
                                                      strict=True))
    full = api("reader").get("/runs/long/metrics/loss").json()
    assert len(full["values"]) == n
    missing = api("reader").get("/runs/long/metrics/nope")
    assert missing.status_code == 404


def test_32_concurrent_clients_lose_no_points(api: Api, tokens: dict[str, str],
                                              live: LiveServer) -> None:
    run = api("writer").post("/runs", json={"name": "busy"}).json()
    clients, batches, per_batch = 32, 10, 10
    errors: list[str] = []

    def work(c: int) -> None:
        with httpx.Client(base_url=f"{live.url}/api/v1", timeout=60,
                          headers={"Authorization": f"Bearer {tokens['writer']}"}) as http:
            for b in range(batches):
                points = [{"key": f"m{k}", "value": c + b / 10, "step": c * 1000 + b}
                          for k in range(per_batch)]
                reply = http.post(f"/runs/{run['id']}/metrics", json={"metrics": points})
                if reply.status_code != 200:
                    errors.append(reply.text)

    threads = [threading.Thread(target=work, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    counts = api("reader").get(f"/runs/{run['id']}").json()["metric_points"]
    assert counts == {f"m{k}": clients * batches for k in range(per_batch)}
    series = api("reader").get(f"/runs/{run['id']}/metrics/m3").json()
    assert sorted(series["steps"]) == sorted(c * 1000 + b for c in range(clients)
                                             for b in range(batches))


@pytest.mark.parametrize("path", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "a%2F..%2F..%2Fb",
                                  "C:%5Cwindows"])
def test_artifact_paths_cannot_leave_their_folder(api: Api, live: LiveServer, path: str,
                                                  tmp_path: Path) -> None:
    run = api("writer").post("/runs", json={"name": "arts"}).json()
    reply = api("writer").put(f"/runs/{run['id']}/artifacts/{path}", content=b"payload")
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"]["code"] == "invalid_input"
    assert api("reader").get(f"/runs/{run['id']}/artifacts").json()["artifacts"] == []
    assert api("reader").get(f"/runs/{run['id']}/artifacts/{path}").status_code == 400
    assert not (live.project.root.parent / "etc").exists()


def test_artifacts_upload_list_and_download(api: Api, server_dir: Project) -> None:
    writer = api("writer")
    run = writer.post("/runs", json={"name": "arts"}).json()
    put = writer.put(f"/runs/{run['id']}/artifacts/plots/roc.png", content=b"\x89PNG...")
    assert put.status_code == 201 and put.json()["path"] == "plots/roc.png"
    listed = writer.get(f"/runs/{run['id']}/artifacts").json()["artifacts"]
    assert [(a["kind"], a["path"]) for a in listed] == [("artifact", "plots/roc.png")]
    got = writer.get(f"/runs/{run['id']}/artifacts/plots/roc.png")
    assert got.content == b"\x89PNG..." and "roc.png" in got.headers["content-disposition"]

    folder = server_dir.root / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"w" * 100)
    (folder / "sub" / "config.json").write_text("{}")
    store = open_store(server_dir)
    add_path(store, server_dir, run["id"], folder, kind="model", name="model")
    store.close()
    tree = writer.get(f"/runs/{run['id']}/artifacts/model").json()
    assert sorted(f["path"] for f in tree["files"]) == ["sub/config.json", "weights.bin"]
    inner = writer.get(f"/runs/{run['id']}/artifacts/model/sub/config.json")
    assert inner.content == b"{}"
    assert writer.get(f"/runs/{run['id']}/artifacts/model/nope").status_code == 404


def test_logs_and_lineage(api: Api, server_dir: Project) -> None:
    log = server_dir.root / "output.log"
    log.write_bytes(b"epoch 1\nepoch 2\n")
    store = open_store(server_dir)
    with store.db.write() as tx:
        parent = run_store.create_run(tx, store.project_id, name="parent")
    with store.db.write() as tx:
        child = run_store.create_run(
            tx, store.project_id, name="child", lineage={"parent": parent.id},
        )
    add_path(store, server_dir, parent.id, log, kind="log", name="output.log")
    store.close()
    reader = api("reader")
    got = reader.get("/runs/parent/logs")
    assert got.text == "epoch 1\nepoch 2\n" and got.headers["x-cairn-log-size"] == "16"
    assert reader.get("/runs/parent/logs", params={"offset": 8}).text == "epoch 2\n"
    assert reader.get("/runs/child/logs").status_code == 404
    lineage = reader.get("/runs/child/lineage").json()
    assert lineage["parent"]["number"] == parent.number
    children = reader.get("/runs/parent/lineage").json()["children"]
    assert children == [{"relation": "parent", "id": child.id, "number": child.number,
                         "name": "child", "status": "running", "verdict": None}]
