"""Sync integrity, attacked through a real server on 127.0.0.1 and the real ``cairn`` CLI.

A finished run is immutable everywhere (server, bucket, a puller's own copy), its author is
the account that pushed it, and the one object store a server shares between its projects
tells no project anything about another's content.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from cairn.objects.hashing import hash_bytes
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import Tree, TreeEntry
from cairn.project import Project
from cairn.remote.http import HttpRemote
from cairn.remote.push import push_run
from cairn.runner.artifacts import add_path
from cairn.store import runs as run_store
from cairn.store.accounts import add_user, audit_entries, create_token, set_role
from cairn.store.core import open_store
from tests.conftest import cairn_cli
from tests.remote.conftest import alice, bob, make_project, record_run  # noqa: F401
from tests.server.live import LiveServer

A, B = "server", "beta"  # the server's own project (named after its folder), and another


def _account(server: Project, name: str, roles: dict[str, str]) -> str:
    """An account with ``roles`` (project name → role) on the server, and a token for it."""
    store = open_store(server)
    try:
        user, _ = add_user(store.db, name)
        for project, role in roles.items():
            set_role(store.db, open_store(server, name=project).project_id, user, role)
        return create_token(store.db, name)
    finally:
        store.close()


def _as(user: str, tmp: Path) -> dict[str, str]:
    """The environment of ``user``'s shell: their own saved tokens."""
    return {"XDG_CONFIG_HOME": str(tmp / f"home-{user}" / ".config")}


def _login(project: Project, user: str, url: str, token: str, tmp: Path,
           remote: str = "team") -> None:
    added = cairn_cli("remote", "add", remote, url, cwd=project.root, env=_as(user, tmp))
    assert added.returncode == 0, added.stderr
    logged = cairn_cli("login", remote, cwd=project.root, input=token + "\n", env=_as(user, tmp))
    assert logged.returncode == 0, logged.stderr


def _client(server: LiveServer, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", timeout=30,
                        headers={"Authorization": f"Bearer {token}", "X-Cairn-Client": "1"})


def _with_log(project: Project, run: run_store.RunRow, text: str) -> run_store.RunRow:
    """``run`` with an output log, as ``cairn run`` stores one."""
    (project.root / "output.log").write_text(text)
    store = open_store(project)
    try:
        add_path(store, project, run.id, project.root / "output.log", kind="log",
                 name="output.log")
        return run_store.get_run(store, run.id)
    finally:
        store.close()


def _show(project: Project, ref: str) -> dict[str, Any]:
    shown = cairn_cli("show", "--json", ref, cwd=project.root)
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout))


def _tamper(doc: dict[str, Any]) -> dict[str, Any]:
    """What the attack makes of a bundle: other params, no metrics, no log, a 1970 start."""
    bad: dict[str, Any] = json.loads(json.dumps(doc))
    bad["params"]["lr"] = "0.9"
    bad["metrics"] = None
    bad["artifacts"] = [a for a in bad["artifacts"] if a["kind"] != "log"]
    bad["run"]["started_at"] = 0
    bad["run"]["created_by"] = "mallory"
    return bad


def _stored(server: Project, run_id: str) -> dict[str, Any]:
    """What the server's database holds of a run, written-at times included."""
    store = open_store(server)
    try:
        row = run_store.get_run(store, run_id)
        return {
            "run": (row.status, row.started_at, row.ended_at, row.created_by, row.record),
            "params": store.db.query("SELECT key, value FROM params WHERE run_id = ? "
                                     "ORDER BY key", (run_id,)),
            "metrics": store.db.query("SELECT id, key, count, steps, vals "
                                      "FROM metric_chunks WHERE run_id = ? "
                                      "ORDER BY key", (run_id,)),
            "files": store.db.query("SELECT kind, path, oid, created_at FROM artifacts "
                                    "WHERE run_id = ? ORDER BY kind, path", (run_id,)),
            "audit": len(audit_entries(store.db, limit=10_000)),
        }
    finally:
        store.close()


# -- (a) finished runs are immutable ----------------------------------------------------------
def test_a_finished_run_cannot_be_rewritten_through_its_bundle(
    alice: Project, live: LiveServer, server_dir: Project, tmp_path: Path,  # noqa: F811
) -> None:
    run = _with_log(alice, record_run(alice, "base", created_by="alice"), "epoch 1 acc 0.9\n")
    alice_token = _account(server_dir, "alice", {A: "writer"})
    mallory_token = _account(server_dir, "mallory", {A: "writer"})
    _login(alice, "alice", live.url, alice_token, tmp_path)
    pushed = cairn_cli("push", cwd=alice.root, env=_as("alice", tmp_path))
    assert pushed.returncode == 0, pushed.stderr
    before = _stored(server_dir, run.id)

    with _client(live, mallory_token) as mallory:
        original = mallory.get(f"/runs/{run.id}/bundle").json()
        rewrite = mallory.put(f"/runs/{run.id}/bundle", json=_tamper(original))
        assert rewrite.status_code == 409
        message = rewrite.json()["error"]["message"]
        assert "is already finished, and a finished run never changes" in message
        for part in ("started_at", "params", "metrics", "log"):
            assert part in message
        assert "\n" not in message
        assert _stored(server_dir, run.id) == before  # params, metrics, log, times, author

        again = mallory.put(f"/runs/{run.id}/bundle", json=original)
        assert again.status_code == 200
        assert again.json()["unchanged"] is True and "nothing was written" in again.json()[
            "message"]
        assert _stored(server_dir, run.id) == before  # not even the audit log

        # A running run is updated only by its creator's pushes.
        live_run = record_run(alice, "live", status="running", created_by="alice")
        store = open_store(alice)
        first = push_run(store, LocalObjectStore(alice.objects_dir),
                         HttpRemote("team", live.url, token=alice_token), live_run)
        assert first.created
        doc = mallory.get(f"/runs/{live_run.id}/bundle").json()
        doc["params"]["lr"] = "0.5"
        taken = mallory.put(f"/runs/{live_run.id}/bundle", json=doc)
        assert taken.status_code == 403
        assert "created by alice" in taken.json()["error"]["message"]
        with store.db.write() as tx:
            run_store.finish_run(tx, live_run.id)
        second = push_run(store, LocalObjectStore(alice.objects_dir),
                          HttpRemote("team", live.url, token=alice_token),
                          run_store.get_run(store, live_run.id))
        store.close()
        assert not second.created
        assert mallory.get(f"/runs/{live_run.id}").json()["status"] == "finished"

    again_cli = cairn_cli("push", "base", cwd=alice.root, env=_as("alice", tmp_path))
    assert again_cli.returncode == 0 and "0 objects sent" in again_cli.stdout
    after = _stored(server_dir, run.id)
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"}


def test_created_by_is_the_account_that_pushed(
    tmp_path: Path, live: LiveServer, server_dir: Project,
    start_server: Callable[..., LiveServer],
) -> None:
    mallory_home = make_project(tmp_path / "mallory")
    forged = record_run(mallory_home, "forged", created_by="alice")  # claims to be alice's
    _login(mallory_home, "mallory", live.url, _account(server_dir, "mallory", {A: "writer"}),
           tmp_path)
    pushed = cairn_cli("push", cwd=mallory_home.root, env=_as("mallory", tmp_path))
    assert pushed.returncode == 0, pushed.stderr
    assert _stored(server_dir, forged.id)["run"][3] == "mallory"

    open_server = start_server(project=make_project(tmp_path / "open-server"), auth=False)
    other = record_run(mallory_home, "other", created_by="alice")
    store = open_store(mallory_home)
    push_run(store, LocalObjectStore(mallory_home.objects_dir),
             HttpRemote("open", open_server.url), other)
    store.close()
    with httpx.Client(base_url=f"{open_server.url}/api/v1") as anyone:
        shown = anyone.get(f"/runs/{other.id}").json()
    assert shown["created_by"] == open_server.state.local_user != "alice"


def test_a_tampered_run_in_a_bucket_never_replaces_a_local_one(
    alice: Project, bob: Project, tmp_path: Path,  # noqa: F811
) -> None:
    run = _with_log(alice, record_run(alice, "base", created_by="alice"), "acc 0.9\n")
    lake = tmp_path / "lake"
    for project in (alice, bob):
        added = cairn_cli("remote", "add", "lake", str(lake), cwd=project.root)
        assert added.returncode == 0, added.stderr
    assert cairn_cli("push", cwd=alice.root).returncode == 0
    assert cairn_cli("pull", "lake:base", cwd=bob.root).returncode == 0
    mine, theirs = _show(alice, "base"), _show(bob, "base")

    # Anyone who can write to the bucket rewrites the run's JSON.
    path = lake / "runs" / f"{run.id}.json"
    path.write_text(json.dumps(_tamper(json.loads(path.read_text()))))
    record_run(alice, "fresh")
    assert cairn_cli("push", "fresh", cwd=alice.root).returncode == 0

    for project, before in ((alice, mine), (bob, theirs)):
        pulled = cairn_cli("pull", "lake:base", "lake:fresh", cwd=project.root)
        assert pulled.returncode == 1, pulled.stderr
        refusal = pulled.stderr.strip().splitlines()
        assert len(refusal) == 1 and refusal[0].startswith("cairn: error: lake:base was not "
                                                            "pulled: run 1 of project")
        for part in ("already finished", "started_at", "params", "metrics", "log"):
            assert part in refusal[0]
        assert _show(project, run.id[:12]) == before  # params, metrics, log, started_at
        assert "Traceback" not in pulled.stderr
    assert "pulled lake:fresh" in pulled.stdout  # the other run still came (bob's side)

    # Alice's untampered copy is not overwritten over it either: the bucket keeps what it has.
    refused = cairn_cli("push", "base", cwd=alice.root)
    assert refused.returncode == 1 and "was not pushed" in refused.stderr
    same = cairn_cli("pull", "lake:fresh", cwd=bob.root)
    assert same.returncode == 0 and "already had lake:fresh" in same.stdout


# -- (b) one object store, no leaks between projects -----------------------------------------
def _pin_project(tmp_path: Path, server: LiveServer, server_folder: Project, pin: str) -> str:
    """Vera, a writer of project B, pushes a run holding a PIN file; the file's oid."""
    vera = make_project(tmp_path / "vera")
    (vera.root / "pin.txt").write_text(pin)
    run = record_run(vera, "secrets")
    store = open_store(vera)
    add_path(store, vera, run.id, vera.root / "pin.txt", kind="artifact")
    store.close()
    token = _account(server_folder, "vera", {B: "writer"})
    _login(vera, "vera", f"{server.url}/?project={B}", token, tmp_path)
    pushed = cairn_cli("push", cwd=vera.root, env=_as("vera", tmp_path))
    assert pushed.returncode == 0, pushed.stderr
    return hash_bytes(pin.encode())


def test_objects_of_another_project_are_no_oracle(
    tmp_path: Path, live: LiveServer, server_dir: Project,
) -> None:
    pin_oid = _pin_project(tmp_path, live, server_dir, "4821\n")
    assert live.state.objects.has(pin_oid)
    attacker = _account(server_dir, "mallory", {A: "writer"})  # nothing in B
    candidates = [hash_bytes(f"{i:04d}\n".encode()) for i in range(10_000)]
    statuses: list[int] = []
    with _client(live, attacker) as mallory:
        assert mallory.post(f"/objects/missing?project={B}",
                            json={"oids": candidates[:1]}).status_code == 403
        started = time.monotonic()
        for project in ("", f"?project={A}"):
            reported: list[str] = []
            for start in range(0, len(candidates), 1000):
                reply = mallory.post(f"/objects/missing{project}",
                                     json={"oids": candidates[start:start + 1000]})
                statuses.append(reply.status_code)
                reported += reply.json()["missing"]
            assert reported == candidates  # every candidate missing: nothing learned
        elapsed = time.monotonic() - started
        for project in ("", f"?project={A}"):
            got = mallory.get(f"/objects/{pin_oid}{project}")
            statuses.append(got.status_code)
            assert got.status_code == 404 and "4821" not in got.text
            statuses.append(mallory.head(f"/objects/{pin_oid}{project}").status_code)
            assert statuses[-1] == 404
        # Nor does a tree listing the guess, nor a run naming it, tell present from absent.
        absent = hash_bytes(b"no such pin\n")
        answers = []
        for guess in (pin_oid, absent):
            tree = Tree((TreeEntry("pin.txt", guess, 5),)).to_bytes()
            up = mallory.put(f"/objects/{hash_bytes(tree)}", content=tree)
            run_id = ("%032x" % (int(guess[:8], 16) + 1))
            bundle = {"cairn-bundle": 1, "params": {}, "tags": {}, "lineage": {},
                      "run": {"id": run_id, "number": 1, "status": "finished",
                              "started_at": 1, "record": {}},
                      "artifacts": [{"kind": "artifact", "path": "pin.txt", "oid": guess,
                                     "size": 5, "is_tree": False}], "metrics": None}
            put = mallory.put(f"/runs/{run_id}/bundle", json=bundle)
            statuses += [up.status_code, put.status_code]
            answers.append((up.status_code, put.status_code,
                            put.json()["error"]["message"].replace(guess, "GUESS")
                            .replace(run_id, "RUN")))
        assert answers[0] == answers[1] and answers[0][:2] == (409, 409)
    assert not [s for s in statuses if s >= 500]
    print(f"oracle: {2 * len(candidates)} candidates in {len(statuses)} requests, "
          f"{elapsed:.2f} s, all reported missing, 0 5xx")


def test_shared_content_still_moves_between_projects(
    alice: Project, bob: Project, tmp_path: Path, live: LiveServer,  # noqa: F811
    server_dir: Project,
) -> None:
    pin_oid = _pin_project(tmp_path, live, server_dir, "same notes\n")
    uploads = live.state.stats.objects
    stored = len(list(live.state.objects.root.glob("??/*")))
    # Alice, in A, has the very same file: she must send its bytes, which are not stored twice.
    (alice.root / "pin.txt").write_text("same notes\n")
    run = record_run(alice, "mine")
    store = open_store(alice)
    add_path(store, alice, run.id, alice.root / "pin.txt", kind="artifact")
    store.close()
    _login(alice, "alice", live.url, _account(server_dir, "alice", {A: "writer"}), tmp_path)
    pushed = cairn_cli("push", cwd=alice.root, env=_as("alice", tmp_path))
    assert pushed.returncode == 0, pushed.stderr
    assert live.state.stats.objects > uploads  # the shared file was uploaded again...
    assert pin_oid in sorted(p.parent.name + p.name
                             for p in live.state.objects.root.glob("??/*"))
    assert stored < len(list(live.state.objects.root.glob("??/*")))
    assert sorted(p.name for p in live.state.objects.root.glob("??/*")).count(
        pin_oid[2:]) == 1  # ...and is stored once

    # Readers of each project pull what is theirs, shared bytes included.
    _login(bob, "bob", f"{live.url}/?project={B}",
           _account(server_dir, "bob", {A: "reader", B: "reader"}), tmp_path)
    cairn_cli("remote", "add", "a", live.url, cwd=bob.root, env=_as("bob", tmp_path))
    for ref in ("team:secrets", "a:mine"):
        pulled = cairn_cli("pull", ref, cwd=bob.root, env=_as("bob", tmp_path))
        assert pulled.returncode == 0, pulled.stderr
    assert LocalObjectStore(bob.objects_dir).get_bytes(pin_oid) == b"same notes\n"


# -- (c) a bundle body that cannot be read whole ------------------------------------------------
def test_a_bundle_too_deep_or_with_unencodable_text_is_refused_and_stores_nothing(
        live: LiveServer, server_dir: Project) -> None:
    token = _account(server_dir, "wes", {A: "writer"})
    run_id = "0" * 31 + "1"
    deep = b'{"cairn-bundle": 1, "run": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    surrogate = (b'{"cairn-bundle": 1, "run": {"id": "' + run_id.encode()
                 + b'", "name": "\\ud800"}}')
    with _client(live, token) as client:
        for body, says in ((deep, "nests too deeply"), (surrogate, "surrogate")):
            answer = client.put(f"/runs/{run_id}/bundle", content=body,
                                headers={"Content-Type": "application/json"})
            assert answer.status_code == 400, answer.text
            message = answer.json()["error"]["message"]
            assert says in message and "\n" not in message
        assert client.get(f"/runs/{run_id}").status_code == 404
