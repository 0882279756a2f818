"""Restoring a pulled run never writes through a symbolic link, nor leaves one leading out.

Each attack is played end to end with real parts: an attacker's project records a run (with
the real ``cairn run`` in a real git repository, or crafted through cairn's own store API as
a malicious peer would), pushes it to a real ``cairn server`` on 127.0.0.1 or to a bucket
remote (a folder), and the victim pulls it and runs ``cairn checkout`` or ``cairn fork``. A
sentinel folder stands where the link points: its files and their bytes must not change.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import MODE_FILE, MODE_LINK
from cairn.project import Project
from cairn.remote.bucket import BucketRemote
from cairn.remote.bundle import export_run
from cairn.store import runs as run_store
from cairn.store.artifacts import ArtifactRow, add_artifacts
from cairn.store.core import open_store
from cairn.store.record import RunRecord
from cairn.store.record_parts import CodeState
from tests.conftest import cairn_cli, commit_all, git
from tests.remote.conftest import make_project
from tests.server.live import LiveServer, make_token

SENTINEL = b"the victim's own file\n"
PAYLOAD = b"#!/bin/sh\necho pwned\n"

Entry = tuple[str, bytes, int]  # (path, bytes: the file's or the link's target, mode)


# -- the victim's side ----------------------------------------------------------------------
@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder of the victim's outside every checkout, holding a file an attack would hit."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "x.csv").write_bytes(SENTINEL)
    (folder / "pwned.txt").write_bytes(SENTINEL)
    return folder


def listing(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (links as their target text)."""
    found: dict[str, bytes] = {}
    for top, dirs, names in os.walk(folder):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            full = os.path.join(top, name)
            rel = os.path.relpath(full, folder)
            found[rel] = os.fsencode(os.readlink(full)) if os.path.islink(full) \
                else Path(full).read_bytes()
    return found


def refused(done: Any) -> str:
    """The refusal's one sentence, after checking it is one line on stderr with a failure."""
    assert done.returncode != 0, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("cairn: error:")]
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return str(errors[0])


def assert_untouched(outside: Path, before: dict[str, bytes], victim: Path) -> None:
    assert listing(outside) == before
    leftovers = [p.name for p in victim.iterdir() if ".cairn-" in p.name]
    assert leftovers == []  # no half-written checkout is left behind either


# -- the attacker's side --------------------------------------------------------------------
@pytest.fixture
def attacker(tmp_path: Path) -> Project:
    return make_project(tmp_path / "attacker")


@pytest.fixture
def victim(tmp_path: Path) -> Project:
    return make_project(tmp_path / "victim")


def tree_of(objects: LocalObjectStore, entries: list[Entry]) -> dict[str, Any]:
    """A tree manifest stored as a peer would write it, links and all; its StoredTree JSON."""
    rows = [[path, objects.put_bytes(data), len(data), mode] for path, data, mode in entries]
    doc = {"cairn-tree": 1, "entries": sorted(rows)}
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return {"oid": objects.put_bytes(raw), "size": sum(r[2] for r in rows), "count": len(rows)}


def crafted_run(project: Project, *, code: list[Entry] | None = None,
                data: dict[tuple[str, str], list[Entry] | bytes] | None = None) -> int:
    """A finished run whose code snapshot and declared inputs/outputs are exactly these."""
    objects = LocalObjectStore(project.objects_dir)
    record: dict[str, Any] = {}
    if code is not None:
        record["code"] = {"kind": "snapshot", "root": str(project.root),
                          "snapshot": tree_of(objects, code)}
    store = open_store(project)
    try:
        with store.db.write() as tx:
            run = run_store.create_run(
                tx, store.project_id, name="shared", command=["true"],
                record=RunRecord.from_json(record), cwd=str(project.root),
            )
        rows = []
        for (kind, path), content in (data or {}).items():
            if isinstance(content, bytes):
                rows.append(ArtifactRow(run.id, kind, path, objects.put_bytes(content),
                                        len(content), False))
            else:
                ref = tree_of(objects, content)
                rows.append(ArtifactRow(run.id, kind, path, ref["oid"], ref["size"], True))
        with store.db.write() as tx:
            add_artifacts(tx, rows)
        with store.db.write() as tx:
            run_store.finish_run(tx, run.id, "finished", exit_code=0)
        return run.number
    finally:
        store.close()


def login(project: Project, url: str, token: str) -> None:
    added = cairn_cli("remote", "add", "team", url, cwd=project.root)
    assert added.returncode == 0, added.stderr
    logged = cairn_cli("login", "team", cwd=project.root, input=token + "\n")
    assert logged.returncode == 0, logged.stderr


@pytest.fixture
def server(live: LiveServer) -> LiveServer:
    return live


def through_server(server: LiveServer, attacker: Project, victim: Project, number: int) -> None:
    """The attacker (a writer) pushes run ``number``; the victim (a reader) pulls it."""
    login(attacker, server.url, make_token(server.project, "mallory", "writer"))
    pushed = cairn_cli("push", str(number), cwd=attacker.root)
    assert pushed.returncode == 0, pushed.stderr
    login(victim, server.url, make_token(server.project, "victor", "reader"))


def through_bucket(lake: Path, attacker: Project, victim: Project, number: int) -> None:
    for project in (attacker, victim):
        added = cairn_cli("remote", "add", "team", str(lake), cwd=project.root)
        assert added.returncode == 0, added.stderr
    pushed = cairn_cli("push", str(number), cwd=attacker.root)
    assert pushed.returncode == 0, pushed.stderr


def plant_in_bucket(lake: Path, attacker: Project, number: int) -> None:
    """Write a run straight into a bucket remote, as anyone who may write there can: cairn's
    own ``push`` checks the trees it sends, a hand-written bucket does not."""
    objects = LocalObjectStore(attacker.objects_dir)
    bucket = BucketRemote("team", f"file://{lake}")
    for oid in objects.iter_oids():
        bucket.put_object(oid, objects)
    store = open_store(attacker)
    try:
        run = next(r for r in run_store.list_runs(store) if r.number == number)
        bucket.put_bundle(run.id, export_run(store, objects, run).doc)
    finally:
        store.close()


def pull(victim: Project) -> int:
    done = cairn_cli("pull", "team:last", cwd=victim.root)
    assert done.returncode == 0, done.stderr
    store = open_store(victim)
    try:
        return max(r.number for r in run_store.list_runs(store))
    finally:
        store.close()


# -- the attacks ----------------------------------------------------------------------------
def test_a_code_link_with_a_declared_input_under_it_overwrites_nothing(
    server: LiveServer, attacker: Project, victim: Project, outside: Path, tmp_path: Path
) -> None:
    # victim/co/data -> ../../outside; the input data/x.csv would replace the victim's file.
    number = crafted_run(attacker, code=[("train.py", b"print(1)\n", MODE_FILE),
                                         ("data", b"../../outside", MODE_LINK)],
                         data={("input", "data/x.csv"): PAYLOAD})
    through_server(server, attacker, victim, number)
    local = pull(victim)
    before = listing(outside)
    sentence = refused(cairn_cli("checkout", str(local), "--dir", "co", cwd=victim.root))
    assert "data" in sentence and "link" in sentence
    assert_untouched(outside, before, victim.root)
    assert not (victim.root / "co").exists()
    assert (outside / "x.csv").read_bytes() == SENTINEL


def team_repo(tmp_path: Path, *, link_to: str | None = None) -> Path:
    """The team's git repository: ``train.py`` (and a ``data`` link) in its first commit."""
    team = tmp_path / "team"
    team.mkdir()
    git(team, "init", "-q", "-b", "main")
    (team / "train.py").write_text("print('train')\n")
    if link_to is not None:
        os.symlink(link_to, team / "data")
    commit_all(team, "first")
    return team


def test_a_link_created_by_the_uncommitted_diff_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    # A real repository shared by both; the attacker stages a link and records a real run.
    team = team_repo(tmp_path)
    attacker_root, victim_root = tmp_path / "attacker", tmp_path / "victim"
    git(tmp_path, "clone", "-q", str(team), str(attacker_root))
    git(tmp_path, "clone", "-q", str(team), str(victim_root))
    attacker, victim = make_project(attacker_root), make_project(victim_root)
    os.symlink("../../outside", attacker_root / "data")
    git(attacker_root, "add", "data")
    recorded = cairn_cli("run", "--", "true", cwd=attacker_root)
    assert recorded.returncode == 0, recorded.stderr
    store = open_store(attacker)
    try:
        run = run_store.list_runs(store)[0]
        assert b"new file mode 120000" in LocalObjectStore(attacker.objects_dir).get_bytes(
            run.record.code.diff_oid if run.record.code else None)
        objects = LocalObjectStore(attacker.objects_dir)  # then declares an input under it
        with store.db.write() as tx:
            add_artifacts(tx, [ArtifactRow(run.id, "input", "data/pwned.txt",
                                              objects.put_bytes(PAYLOAD), len(PAYLOAD), False)])
    finally:
        store.close()
    through_bucket(tmp_path / "lake", attacker, victim, run.number)
    local = pull(victim)
    before = listing(outside)
    sentence = refused(cairn_cli("checkout", str(local), "--dir", "co", cwd=victim_root))
    assert "uncommitted changes" in sentence and "data" in sentence
    assert_untouched(outside, before, victim_root)


def test_a_diff_writing_through_the_link_it_creates_is_refused(
    tmp_path: Path, outside: Path
) -> None:
    team = team_repo(tmp_path)
    victim_root = tmp_path / "victim"
    git(tmp_path, "clone", "-q", str(team), str(victim_root))
    attacker, victim = make_project(team), make_project(victim_root)
    objects = LocalObjectStore(attacker.objects_dir)
    patch = (b"diff --git a/data b/data\nnew file mode 120000\n--- /dev/null\n+++ b/data\n"
             b"@@ -0,0 +1 @@\n+../../outside\n\\ No newline at end of file\n"
             b"diff --git a/data/pwned.txt b/data/pwned.txt\nnew file mode 100644\n"
             b"--- /dev/null\n+++ b/data/pwned.txt\n@@ -0,0 +1 @@\n+pwned\n")
    commit = git(team, "rev-parse", "HEAD").strip()
    store = open_store(attacker)
    try:
        with store.db.write() as tx:
            run = run_store.create_run(
                tx, store.project_id, command=["true"], cwd=str(team), record=RunRecord(
                    code=CodeState("git", str(team), commit=commit, dirty=True,
                                   diff_oid=objects.put_bytes(patch), diff_size=len(patch))))
        with store.db.write() as tx:
            run_store.finish_run(tx, run.id, "finished", exit_code=0)
    finally:
        store.close()
    through_bucket(tmp_path / "lake", attacker, victim, run.number)
    local = pull(victim)
    before = listing(outside)
    refused(cairn_cli("checkout", str(local), "--dir", "co", cwd=victim_root))
    assert_untouched(outside, before, victim_root)


def test_an_input_tree_link_with_an_input_under_it_is_refused_by_fork(
    server: LiveServer, attacker: Project, victim: Project, outside: Path
) -> None:
    # fork checks out into .cairn/fork/N-xxxx/: five levels below the victim's tmp folder.
    number = crafted_run(attacker, code=[("train.py", b"print(1)\n", MODE_FILE)], data={
        ("input", "in"): [("a.csv", b"x\n1\n", MODE_FILE),
                          ("sub", b"../../../../../outside", MODE_LINK)],
        ("input", "in/sub/pwned.txt"): PAYLOAD,
    })
    through_server(server, attacker, victim, number)
    before = listing(outside)
    sentence = refused(cairn_cli("fork", "team:last", "--", "touch", str(outside / "ran"),
                                 cwd=victim.root))
    assert "link" in sentence
    assert_untouched(outside, before, victim.root)
    assert not (outside / "ran").exists()  # refused before any command ran
    forks = victim.store_dir / "fork"
    assert not forks.exists() or list(forks.iterdir()) == []


def test_an_output_tree_restored_under_another_outputs_link_is_refused(
    server: LiveServer, attacker: Project, victim: Project, outside: Path
) -> None:
    number = crafted_run(attacker, code=[("train.py", b"print(1)\n", MODE_FILE)], data={
        ("output", "out"): [("log.txt", b"ok\n", MODE_FILE),
                            ("sub", b"../../../outside", MODE_LINK)],
        ("output", "out/sub"): [("pwned.txt", PAYLOAD, MODE_FILE),
                                ("deeper/model.bin", PAYLOAD, MODE_FILE)],
    })
    through_server(server, attacker, victim, number)
    local = pull(victim)
    before = listing(outside)
    sentence = refused(cairn_cli("checkout", str(local), "--dir", "co", cwd=victim.root))
    assert "link" in sentence
    assert_untouched(outside, before, victim.root)


@pytest.mark.parametrize("links", [
    [("keys", b"../../outside/x.csv", MODE_LINK)],
    # inside when read as text, out once "here" (the checkout itself) is followed
    [("here", b".", MODE_LINK), ("keys", b"here/../outside/x.csv", MODE_LINK)],
])
def test_a_tree_link_leading_out_is_refused_even_with_nothing_under_it(
    server: LiveServer, attacker: Project, victim: Project, outside: Path, links: list[Entry]
) -> None:
    (victim.root / "outside").symlink_to(outside)  # where here/../outside lands
    number = crafted_run(attacker, code=[("train.py", b"print(1)\n", MODE_FILE), *links])
    through_server(server, attacker, victim, number)
    local = pull(victim)
    before = listing(outside)
    sentence = refused(cairn_cli("checkout", str(local), "--dir", "co", cwd=victim.root))
    assert "keys" in sentence and "lead" in sentence and "out of" in sentence
    assert_untouched(outside, before, victim.root)


@pytest.mark.parametrize("entries", [
    [("data", b"/etc", MODE_LINK)],  # an absolute link leads out wherever it lands
    [("data", b"../outside", MODE_LINK), ("data/x.csv", PAYLOAD, MODE_FILE)],  # under a link
    [("../x.csv", PAYLOAD, MODE_FILE)],
    [("/tmp/x.csv", PAYLOAD, MODE_FILE)],
    [("x.csv", PAYLOAD, MODE_FILE), ("x.csv", SENTINEL, MODE_FILE)],
])
def test_pull_refuses_trees_that_escape_or_pass_through_a_link(
    tmp_path: Path, attacker: Project, victim: Project, entries: list[Entry]
) -> None:
    number = crafted_run(attacker, data={("input", "data"): entries})
    lake = tmp_path / "lake"
    plant_in_bucket(lake, attacker, number)
    added = cairn_cli("remote", "add", "team", str(lake), cwd=victim.root)
    assert added.returncode == 0, added.stderr
    refused(cairn_cli("pull", "team:last", cwd=victim.root))
    store = open_store(victim)
    try:
        assert run_store.list_runs(store) == []  # nothing was imported
    finally:
        store.close()


def test_links_that_stay_inside_are_restored_as_links(
    server: LiveServer, attacker: Project, victim: Project
) -> None:
    root = attacker.root
    (root / "data" / "v1").mkdir(parents=True)
    (root / "data" / "v1" / "a.csv").write_text("x\n1\n")
    os.symlink("v1", root / "data" / "current")
    os.symlink("data/v1/a.csv", root / "latest.csv")
    (root / "train.py").write_text("print('train')\n")
    recorded = cairn_cli("run", "-i", "data", "--", "true", cwd=root)
    assert recorded.returncode == 0, recorded.stderr
    through_server(server, attacker, victim, 1)
    local = pull(victim)
    done = cairn_cli("checkout", str(local), "--dir", "co", cwd=victim.root)
    assert done.returncode == 0, done.stderr
    co = victim.root / "co"
    assert os.readlink(co / "latest.csv") == "data/v1/a.csv"
    assert os.readlink(co / "data" / "current") == "v1"
    assert (co / "latest.csv").read_text() == "x\n1\n"


def test_a_committed_link_with_a_declared_input_under_it_is_not_written_through(
    tmp_path: Path, outside: Path
) -> None:
    # The link is in a commit of the shared repository (git checks it out as git would);
    # the pulled run declares an input under it that would replace the victim's file.
    team = team_repo(tmp_path, link_to="../../outside")
    victim_root = tmp_path / "victim"
    git(tmp_path, "clone", "-q", str(team), str(victim_root))
    attacker, victim = make_project(team), make_project(victim_root)
    objects = LocalObjectStore(attacker.objects_dir)
    store = open_store(attacker)
    try:
        head = git(team, "rev-parse", "HEAD").strip()
        with store.db.write() as tx:
            run = run_store.create_run(
                tx, store.project_id, command=["true"], cwd=str(team),
                record=RunRecord(code=CodeState("git", str(team), commit=head)),
            )
        with store.db.write() as tx:
            add_artifacts(tx, [ArtifactRow(run.id, "input", "data/x.csv",
                                           objects.put_bytes(PAYLOAD), len(PAYLOAD), False)])
        with store.db.write() as tx:
            run_store.finish_run(tx, run.id, "finished", exit_code=0)
    finally:
        store.close()
    through_bucket(tmp_path / "lake", attacker, victim, run.number)
    local = pull(victim)
    before = listing(outside)
    sentence = refused(cairn_cli("checkout", str(local), "--dir", "co", cwd=victim_root))
    assert "'data' is a link" in sentence and "does not write through links" in sentence
    assert_untouched(outside, before, victim_root)
    assert (outside / "x.csv").read_bytes() == SENTINEL
