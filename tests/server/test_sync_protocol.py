"""The sync protocol over HTTP: have/want, verified streamed uploads, size limits, bundles."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

from cairn.objects.hashing import hash_bytes
from cairn.objects.local import LocalObjectStore
from cairn.project import Project, init_project
from cairn.remote.bundle import export_run
from cairn.runner.artifacts import add_path
from cairn.store import runs as run_store
from cairn.store.core import open_store
from tests.server.live import LiveServer, make_token

Api = Callable[..., httpx.Client]


def test_missing_answers_what_the_server_lacks(api: Api, live: LiveServer) -> None:
    have = hash_bytes(b"already here")  # a project has an object once it is uploaded there
    assert api("writer").put(f"/objects/{have}", content=b"already here").status_code == 201
    other = hash_bytes(b"not here")
    reply = api("reader").post("/objects/missing", json={"oids": [have, other]})
    assert reply.json() == {"missing": [other]}
    too_many = api("reader").post("/objects/missing", json={"oids": [other] * 1001})
    assert too_many.status_code == 400
    bad = api("reader").post("/objects/missing", json={"oids": ["../../etc/passwd"]})
    assert bad.status_code == 400 and "not an object id" in bad.json()["error"]["message"]


def test_an_upload_is_verified_then_streamed_back(api: Api, live: LiveServer) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    oid = hash_bytes(data)
    writer = api("writer")
    wrong = writer.put(f"/objects/{hash_bytes(b'other')}", content=data)
    assert wrong.status_code == 400
    assert "nothing was stored" in wrong.json()["error"]["message"]
    assert not live.state.objects.has(hash_bytes(b"other"))

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        for start in range(0, len(data), 65536):
            yield data[start:start + 65536]

    assert writer.put(f"/objects/{oid}", content=chunks()).status_code == 201
    assert writer.head(f"/objects/{oid}").headers["content-length"] == str(len(data))
    with writer.stream("GET", f"/objects/{oid}") as reply:
        got = b"".join(reply.iter_bytes())
    assert got == data
    assert writer.get(f"/objects/{hash_bytes(b'none')}").status_code == 404
    assert list((live.state.upload_dir).glob("upload-*")) == []


def test_oversized_uploads_are_refused_with_413(start_server: Callable[..., LiveServer],
                                                server_dir: Project) -> None:
    token = make_token(server_dir, "wes", "writer")
    live = start_server(max_upload=1000)
    headers = {"Authorization": f"Bearer {token}"}
    big = os.urandom(50_000)
    oid = hash_bytes(big)
    with httpx.Client(base_url=f"{live.url}/api/v1", headers=headers) as client:
        declared = client.put(f"/objects/{oid}", content=big)
        assert declared.status_code == 413
        assert "at most 1000 bytes" in declared.json()["error"]["message"]
        streamed = client.put(f"/objects/{oid}", content=iter([big[:800], big[800:2000]]))
        assert streamed.status_code == 413
        small = b"x" * 1000
        assert client.put(f"/objects/{hash_bytes(small)}", content=small).status_code == 201
    assert not live.state.objects.has(oid)
    assert list(live.state.upload_dir.glob("upload-*")) == []


def _client_run(tmp_path: Path) -> tuple[Project, dict[str, object], list[Path]]:
    root = tmp_path / "client"
    (root / "data").mkdir(parents=True)
    for i in range(3):
        (root / "data" / f"{i}.csv").write_text(f"a,b\n{i},{i * 2}\n")
    project, _ = init_project(root)
    store = open_store(project)
    with store.db.write() as tx:
        run = run_store.create_run(tx, store.project_id, name="pushed", params={"lr": 0.01})
    add_path(store, project, run.id, root / "data", kind="input", name="data")
    with store.db.write() as tx:
        run_store.finish_run(tx, run.id)
    doc = export_run(store, LocalObjectStore(project.objects_dir),
                     run_store.get_run(store, run.id)).doc
    store.close()
    objects = sorted(p for p in project.objects_dir.glob("??/*"))
    return project, doc, objects


def test_a_bundle_waits_for_its_objects_and_is_idempotent(api: Api, live: LiveServer,
                                                          tmp_path: Path) -> None:
    _project, doc, files = _client_run(tmp_path)
    run_id = str(doc["run"]["id"])  # type: ignore[index]
    writer = api("writer")
    early = writer.put(f"/runs/{run_id}/bundle", json=doc)
    assert early.status_code == 409
    assert "upload them before the run" in early.json()["error"]["message"]
    assert writer.get("/runs").json()["runs"] == []
    for path in files:
        data = path.read_bytes()
        assert writer.put(f"/objects/{hash_bytes(data)}", content=data).status_code == 201
    first = writer.put(f"/runs/{run_id}/bundle", json=doc)
    assert first.status_code == 201 and first.json()["created"] is True
    again = writer.put(f"/runs/{run_id}/bundle", json=doc)
    assert again.status_code == 200 and again.json()["number"] == first.json()["number"]
    assert len(writer.get("/runs").json()["runs"]) == 1
    got = writer.get(f"/runs/{run_id}").json()
    assert got["params"] == {"lr": 0.01} and got["inputs"][0]["path"] == "data"
    mismatch = writer.put("/runs/" + "1" * 32 + "/bundle", json=doc)
    assert mismatch.status_code == 400


def test_malformed_bundles_are_400(api: Api) -> None:
    writer = api("writer")
    run_id = "a" * 32
    for body in ({"hello": 1},
                 {"cairn-bundle": 1, "run": {"id": run_id, "status": "sleeping"}},
                 {"cairn-bundle": 1, "run": {"id": run_id, "status": "finished", "number": 1,
                                             "started_at": 1},
                  "artifacts": [{"kind": "artifact", "path": "../x", "oid": "0" * 64,
                                 "size": 1}]}):
        reply = writer.put(f"/runs/{run_id}/bundle", json=body)
        assert reply.status_code == 400, reply.text
        assert reply.json()["error"]["message"].startswith("the run bundle is not valid")
    broken = writer.put(f"/runs/{run_id}/bundle", content=b"{",
                        headers={"content-type": "application/json"})
    assert broken.status_code == 400


def test_raw_dot_dot_in_a_request_path_is_refused(live: LiveServer, tokens: dict[str, str],
                                                  tmp_path: Path) -> None:
    """A client that does not normalise ``..`` (curl --path-as-is) still cannot escape."""
    run = httpx.post(f"{live.url}/api/v1/runs", json={"name": "t"},
                     headers={"Authorization": f"Bearer {tokens['writer']}"}).json()
    target = f"/api/v1/runs/{run['id']}/artifacts/../../../../etc/cairn-test-passwd"
    request = (f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {tokens['writer']}\r\nContent-Length: 4\r\n"
               "Connection: close\r\n\r\nroot").encode()
    with socket.create_connection(("127.0.0.1", live.port)) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    assert status == 400, answer
    assert not Path("/etc/cairn-test-passwd").exists()
