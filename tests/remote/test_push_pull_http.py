"""Push and pull between two project folders through a real cairn server on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import stat
from collections.abc import Callable

import pytest

from cairn.errors import NotFound, StoreUnavailable
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import read_tree
from cairn.project import Project
from cairn.remote.config import credentials_path
from cairn.remote.http import HttpRemote
from cairn.remote.push import push_run
from cairn.store import runs as run_store
from cairn.store.accounts import audit_entries
from cairn.store.core import open_store
from cairn.store.metrics import read_series
from cairn.store.record import Origin
from tests.conftest import cairn_cli
from tests.remote.conftest import record_run
from tests.server.live import LiveServer, make_token


def _login(project: Project, url: str, token: str) -> None:
    added = cairn_cli("remote", "add", "team", url, cwd=project.root)
    assert added.returncode == 0, added.stderr
    logged = cairn_cli("login", "team", cwd=project.root, input=token + "\n")
    assert logged.returncode == 0, logged.stderr


def test_push_and_pull_a_run_between_two_projects(alice: Project, bob: Project,
                                                   live: LiveServer, writer_token: str,
                                                   server_dir: Project) -> None:
    run = record_run(alice, "base", files=5, created_by="alice")
    record_run(bob, "own")  # bob's numbers differ from alice's
    _login(alice, live.url, writer_token)
    creds = credentials_path()
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600 and writer_token in creds.read_text()

    pushed = cairn_cli("push", cwd=alice.root)
    assert pushed.returncode == 0, pushed.stderr
    sent = live.state.stats.objects
    assert sent > 5 and f"{sent} objects sent" in pushed.stdout

    again = cairn_cli("push", "base", cwd=alice.root)
    assert again.returncode == 0, again.stderr
    assert live.state.stats.objects == sent  # nothing was transferred the second time
    assert "0 objects sent" in again.stdout

    _login(bob, live.url, make_token(server_dir, "bob", "reader"))
    pulled = cairn_cli("pull", "team:base", cwd=bob.root)
    assert pulled.returncode == 0, pulled.stderr
    assert "as run 2" in pulled.stdout

    mine = json.loads(cairn_cli("show", "--json", "base", cwd=alice.root).stdout)
    theirs = json.loads(cairn_cli("show", "--json", "base", cwd=bob.root).stdout)
    assert theirs["number"] == 2 and mine["number"] == 1
    for key in ("id", "params", "metrics", "metric_points", "tags", "inputs", "artifacts",
                "created_by", "status", "started_at", "ended_at"):
        assert theirs[key] == mine[key], key
    assert theirs["created_by"] == "alice"

    bob_store = open_store(bob)
    local = LocalObjectStore(bob.objects_dir)
    row = run_store.get_run(bob_store, run.id)
    assert row.record.origin == Origin("team", live.url, 1)
    assert list(read_series(bob_store, run.id, "acc").values) == [i / 100 for i in range(100)]
    tree = read_tree(local, theirs["inputs"][0]["oid"])
    for entry in tree.entries:
        original = alice.root / "data-base" / entry.path
        assert local.get_bytes(entry.oid) == original.read_bytes()
    bob_store.close()

    server_store = open_store(server_dir)
    assert ("alice", "run.push", run.id) in [e[1:] for e in audit_entries(server_store.db)]
    server_store.close()


class _StopServerAfter:
    """Progress that stops the server once ``n`` objects went up: an interrupted push."""

    def __init__(self, live: LiveServer, n: int) -> None:
        self.live, self.n, self.done = live, n, 0

    def start(self, label: str, objects: int, total_bytes: int) -> None:
        self.total = objects

    def advance(self, nbytes: int) -> None:
        self.done += 1
        if self.done == self.n:
            self.live.stop()

    def finish(self) -> None:
        pass


def test_an_interrupted_push_leaves_no_run_and_resumes(
    alice: Project, live: LiveServer, writer_token: str,
    start_server: Callable[..., LiveServer],
) -> None:
    run = record_run(alice, "big", files=300)
    store = open_store(alice)
    local = LocalObjectStore(alice.objects_dir)
    remote = HttpRemote("team", live.url, token=writer_token)
    with pytest.raises(StoreUnavailable, match="cannot reach the remote team"):
        push_run(store, local, remote, run, jobs=4, progress=_StopServerAfter(live, 40))
    remote.close()
    received = live.state.stats.objects
    assert 40 <= received < 300

    again = start_server(port=live.port)
    remote = HttpRemote("team", again.url, token=writer_token)
    with pytest.raises(NotFound, match="not in project"):
        remote.get_bundle(run.id)  # no half-run was left behind
    result = push_run(store, local, remote, run)
    total = result.objects
    assert result.sent == total - received
    assert again.state.stats.objects == total - received  # only what was still missing
    assert remote.resolve("big")["id"] == run.id
    remote.close()
    store.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_push_and_pull_mistakes_are_one_sentence(alice: Project, bob: Project,
                                                 live: LiveServer, server_dir: Project) -> None:
    record_run(alice, "base")
    added = cairn_cli("remote", "add", "team", live.url, cwd=alice.root)
    assert added.returncode == 0
    unauthenticated = cairn_cli("push", cwd=alice.root)
    assert unauthenticated.returncode == 5
    assert "the remote team says: this server needs an API token" in unauthenticated.stderr
    assert "cairn login team" in unauthenticated.stderr

    refused = cairn_cli("login", "team", cwd=alice.root, input="cairn_not_a_token\n")
    assert refused.returncode == 5 and not credentials_path().exists()

    reader = make_token(server_dir, "rita", "reader")
    assert cairn_cli("login", "team", cwd=alice.root, input=reader + "\n").returncode == 0
    forbidden = cairn_cli("push", "base", cwd=alice.root)
    assert forbidden.returncode == 5 and "rita is a reader" in forbidden.stderr

    dead = cairn_cli("push", "--remote", "nowhere", cwd=alice.root)
    assert dead.returncode == 2 and "no remote named 'nowhere'" in dead.stderr
    cairn_cli("remote", "add", "down", f"http://127.0.0.1:{_free_port()}", cwd=alice.root)
    down = cairn_cli("push", "base", "--remote", "down", cwd=alice.root)
    assert down.returncode == 4 and "cannot reach the remote down" in down.stderr

    assert cairn_cli("remote", "add", "team", live.url, cwd=bob.root).returncode == 0
    unknown = cairn_cli("pull", "team:nothing-like-this", cwd=bob.root)
    assert unknown.returncode == 2 and "no run matches 'nothing-like-this'" in unknown.stderr
    for result in (unauthenticated, refused, forbidden, dead, down, unknown):
        assert "Traceback" not in result.stderr
    assert cairn_cli("ls", "--json", cwd=bob.root).stdout.strip() == "[]"


def test_a_running_run_pushed_again_when_finished_is_updated(alice: Project,
                                                             live: LiveServer,
                                                             writer_token: str) -> None:
    run = record_run(alice, "live", status="running")
    store = open_store(alice)
    local = LocalObjectStore(alice.objects_dir)
    remote = HttpRemote("team", live.url, token=writer_token)
    first = push_run(store, local, remote, run)
    assert first.created
    with store.db.write() as tx:
        run_store.finish_run(tx, run.id, "finished")
    second = push_run(store, local, remote, run_store.get_run(store, run.id))
    assert not second.created and second.remote_number == first.remote_number
    assert remote.resolve(run.id[:8])["status"] == "finished"
    remote.close()
    store.close()


def test_a_server_on_postgresql(alice: Project, bob: Project, pg_url: str,
                                start_server: Callable[..., LiveServer],
                                server_dir: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.remote.pull import pull_run

    run = record_run(alice, "base", created_by="alice")
    alice_store, bob_store = open_store(alice), open_store(bob)
    monkeypatch.setenv("CAIRN_DB", pg_url)  # what the server's store uses from here on
    token = make_token(server_dir, "alice", "writer")
    live = start_server()
    monkeypatch.delenv("CAIRN_DB")
    assert live.state.db.dialect == "postgresql"
    remote = HttpRemote("team", live.url, token=token)
    first = push_run(alice_store, LocalObjectStore(alice.objects_dir), remote, run)
    assert push_run(alice_store, LocalObjectStore(alice.objects_dir), remote, run).sent == 0
    pulled = pull_run(bob_store, LocalObjectStore(bob.objects_dir), remote, "base")
    assert pulled.run.id == run.id and first.remote_number == 1
    assert run_store.get_params(bob_store, [run.id])[run.id] == {"lr": 0.1, "model": "rf"}
    remote.close()
    alice_store.close()
    bob_store.close()
