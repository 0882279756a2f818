"""Each API write and its audit entry commit together: one never exists without the other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from cairn.objects.hashing import hash_bytes
from cairn.project import Project
from cairn.store import runs as run_store
from cairn.store.accounts import audit_entries
from cairn.store.artifacts import list_artifacts
from cairn.store.core import open_store
from cairn.store.metrics import metric_keys
from tests.server.live import LiveServer
from tests.server.test_sync_protocol import _client_run
from tests.store.faults import refuse_inserts

Api = Callable[..., httpx.Client]


def _in_process(live: LiveServer, token: str,
                requests: dict[str, tuple[str, str, dict[str, Any]]]) -> dict[str, int]:
    """Send ``requests`` to the server's app in process, so that an unexpected failure comes
    back as the 500 a client sees (over a socket uvicorn also drops the connection)."""
    async def go() -> dict[str, int]:
        transport = httpx.ASGITransport(app=live.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"{live.url}/api/v1",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            return {name: (await client.request(method, url, **kw)).status_code
                    for name, (method, url, kw) in requests.items()}
    return asyncio.run(go())


def test_a_write_whose_audit_entry_fails_leaves_nothing(api: Api, live: LiveServer,
                                                        tokens: dict[str, str],
                                                        server_dir: Project,
                                                        tmp_path: Path) -> None:
    writer = api("writer")
    run = writer.post("/runs", json={"name": "kept"}).json()
    _project, doc, files = _client_run(tmp_path)
    for path in files:
        data = path.read_bytes()
        assert writer.put(f"/objects/{hash_bytes(data)}", content=data).status_code == 201
    refuse_inserts(live.state.db, "audit_log")
    rid, pushed = run["id"], doc["run"]["id"]  # type: ignore[index]
    answers = _in_process(live, tokens["writer"], {
        "run.create": ("POST", "/runs", {"json": {"name": "lost", "params": {"a": 1}}}),
        "run.update": ("PATCH", f"/runs/{rid}", {"json": {
            "name": "renamed", "status": "failed", "exit_code": 2, "tags": {"k": "v"}}}),
        "params.log": ("POST", f"/runs/{rid}/params", {"json": {"params": {"lr": 0.1}}}),
        "tags.set": ("POST", f"/runs/{rid}/tags", {"json": {"tags": {"k2": "v"}}}),
        "metrics.log": ("POST", f"/runs/{rid}/metrics",
                        {"json": {"metrics": [{"key": "a", "value": 1}]}}),
        "artifact.put": ("PUT", f"/runs/{rid}/artifacts/notes.txt", {"content": b"hi"}),
        "run.push": ("PUT", f"/runs/{pushed}/bundle", {"json": doc}),
    })
    assert answers == {action: 500 for action in answers}
    store = open_store(server_dir)
    try:
        [only] = run_store.list_runs(store, limit=None)
        assert (only.id, only.name, only.status, only.exit_code) == (rid, "kept", "running", None)
        assert run_store.get_params(store, [rid])[rid] == {}
        assert run_store.get_tags(store, [rid])[rid] == {}
        assert metric_keys(store, rid) == []
        assert list_artifacts(store, rid) == []
        assert [action for _at, _user, action, _target in audit_entries(store.db)] == [
            "run.create"]
    finally:
        store.close()


def test_a_refused_write_leaves_no_audit_entry(api: Api, server_dir: Project) -> None:
    writer = api("writer")
    run = writer.post("/runs", json={"name": "done", "status": "finished"}).json()
    refused = writer.post(f"/runs/{run['id']}/params", json={"params": {"lr": 0.1}})
    assert refused.status_code == 409
    store = open_store(server_dir)
    try:
        assert [action for _at, _user, action, _target in audit_entries(store.db)] == [
            "run.create"]
    finally:
        store.close()
