"""Server-less remotes: the same push and pull through a folder (file://) and S3 (moto)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn.objects.local import LocalObjectStore
from cairn.project import Project
from cairn.remote.bucket import BucketRemote
from cairn.remote.pull import pull_run
from cairn.remote.push import push_run
from cairn.store import runs as run_store
from cairn.store.core import open_store
from tests.conftest import cairn_cli
from tests.remote.conftest import record_run
from tests.server.live import S3Server


def _same_run(a: Project, b: Project, ref: str) -> dict[str, object]:
    mine = json.loads(cairn_cli("show", "--json", ref, cwd=a.root).stdout)
    theirs = json.loads(cairn_cli("show", "--json", ref, cwd=b.root).stdout)
    for key in ("id", "params", "metrics", "metric_points", "tags", "inputs", "artifacts",
                "created_by"):
        assert theirs[key] == mine[key], key
    return theirs


def test_push_and_pull_through_a_folder(alice: Project, bob: Project, tmp_path: Path) -> None:
    record_run(alice, "base", created_by="alice")
    lake = tmp_path / "lake"
    for project in (alice, bob):
        added = cairn_cli("remote", "add", "lake", str(lake), cwd=project.root)
        assert added.returncode == 0, added.stderr
    pushed = cairn_cli("push", cwd=alice.root)
    assert pushed.returncode == 0, pushed.stderr
    assert len(list((lake / "runs").glob("*.json"))) == 1
    assert any((lake / "objects").iterdir())
    again = cairn_cli("push", cwd=alice.root)
    assert "0 objects sent" in again.stdout
    pulled = cairn_cli("pull", "lake:base", cwd=bob.root)
    assert pulled.returncode == 0, pulled.stderr
    shown = _same_run(alice, bob, "base")
    assert shown["created_by"] == "alice"


class _Interrupt:
    """Progress that stops the transfer like Ctrl-C after ``n`` objects."""

    def __init__(self, n: int) -> None:
        self.n, self.done = n, 0

    def start(self, label: str, objects: int, total_bytes: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        self.done += 1
        if self.done == self.n:
            raise KeyboardInterrupt

    def finish(self) -> None:
        pass


def test_an_interrupted_push_to_a_folder_writes_no_run(alice: Project, tmp_path: Path) -> None:
    run = record_run(alice, "big", files=60)
    store = open_store(alice)
    local = LocalObjectStore(alice.objects_dir)
    remote = BucketRemote("lake", f"file://{tmp_path / 'lake'}")
    with pytest.raises(KeyboardInterrupt):
        push_run(store, local, remote, run, jobs=1, progress=_Interrupt(10))
    assert remote.run_ids() == []
    there = len(list((tmp_path / "lake" / "objects").glob("??/*")))
    assert there >= 10
    result = push_run(store, local, remote, run)
    assert result.sent == result.objects - there
    assert remote.run_ids() == [run.id]
    store.close()


def test_push_and_pull_through_s3(alice: Project, bob: Project, s3: S3Server) -> None:
    run = record_run(alice, "base", files=20, created_by="alice")
    url = f"s3://{s3.bucket}/teams/{alice.root.parent.name}"
    for project in (alice, bob):
        added = cairn_cli("remote", "add", "lake", url, "--option",
                          f"endpoint_url={s3.endpoint}", cwd=project.root)
        assert added.returncode == 0, added.stderr
    pushed = cairn_cli("push", cwd=alice.root)
    assert pushed.returncode == 0, pushed.stderr

    remote = BucketRemote("lake", url, endpoint_url=s3.endpoint)
    assert remote.run_ids() == [run.id]
    store = open_store(alice)
    again = push_run(store, LocalObjectStore(alice.objects_dir), remote, run)
    assert again.sent == 0 and again.objects > 20
    store.close()

    pulled = cairn_cli("pull", f"lake:{run.id[:12]}", cwd=bob.root)
    assert pulled.returncode == 0, pulled.stderr
    _same_run(alice, bob, "base")
    bob_store = open_store(bob)
    origin = run_store.get_run(bob_store, run.id).record.origin
    bob_store.close()
    assert origin is not None and origin.remote == "lake" and origin.number == 1

    # pulling again fetches nothing and keeps the local number
    bob_store = open_store(bob)
    refreshed = pull_run(bob_store, LocalObjectStore(bob.objects_dir), remote, "base")
    bob_store.close()
    assert refreshed.fetched == 0 and not refreshed.created and refreshed.run.number == 1


def test_bucket_mistakes_are_one_sentence(alice: Project, tmp_path: Path) -> None:
    record_run(alice, "base")
    added = cairn_cli("remote", "add", "lake", f"file://{tmp_path / 'lake'}", cwd=alice.root)
    assert added.returncode == 0
    login = cairn_cli("login", "lake", cwd=alice.root, input="token\n")
    assert login.returncode == 2 and "cloud credentials" in login.stderr
    empty = cairn_cli("pull", "lake:last", cwd=alice.root)
    assert empty.returncode == 2 and "has no runs" in empty.stderr
    bad = cairn_cli("remote", "add", "ftp", "ftp://example.com/x", cwd=alice.root)
    assert bad.returncode == 2 and "cannot use ftp://" in bad.stderr
