"""Attacks on a full disk, secrets given on a command line, and the store's file modes.

A full disk is real: a small tmpfs mounted (we run as root, here and in CI) where the project's
``.cairn`` or a server's store lives. Secrets go through the real ``cairn`` command, a real
server on 127.0.0.1 and the real report, and every byte cairn wrote is searched for them.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from cairn.capture.secrets import redact_argv, restore_argv
from cairn.errors import InvalidInput
from cairn.objects.fsck import fsck
from cairn.objects.hashing import hash_bytes
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import Tree, TreeEntry
from cairn.project import Project
from tests.conftest import PYTHON, cairn_cli, write
from tests.remote.conftest import make_project
from tests.server.live import LiveServer, server_project

MiB = 1024 * 1024
CLIENT = {"X-Cairn-Client": "1"}  # what cairn's own client sends with a write


# -- a real full disk ---------------------------------------------------------------------------
@pytest.fixture
def small_disk() -> Iterator[Callable[[Path, str], Path]]:
    """``small_disk(folder, "2m")`` mounts a tmpfs of that size on ``folder``."""
    mounted: list[Path] = []

    def mount(folder: Path, size: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                               str(folder)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"mounting a tmpfs is not permitted here ({done.stderr.strip()}), so "
                        "no full disk can be made")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


def _show(root: Path, ref: str = "last") -> dict[str, object]:
    done = cairn_cli("show", "--json", ref, cwd=root)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert isinstance(shown, dict)
    return shown


def test_a_full_disk_keeps_the_exit_code_and_records_the_run(workdir: Path,
                                                             small_disk: Callable[..., Path]
                                                             ) -> None:
    store_dir = small_disk(workdir / ".cairn", "2m")
    assert cairn_cli("init", cwd=workdir).returncode == 0
    script = "open('out', 'wb').write(b'x' * 5_000_000)"

    done = cairn_cli("run", "-o", "out", "--", PYTHON, "-c", script, cwd=workdir)

    assert done.returncode == 0, done.stderr  # the command's own exit code
    assert "Traceback" not in done.stderr and "OSError" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("cairn: error:")]
    assert len(errors) == 1 and "'out' could not be stored" in errors[0], done.stderr
    assert "full" in errors[0]
    shown = _show(workdir)
    assert shown["status"] == "finished" and shown["exit_code"] == 0
    assert shown["outputs"] == []
    not_stored = shown["not_stored"]
    assert isinstance(not_stored, list) and [r["path"] for r in not_stored] == ["out"]
    text = cairn_cli("show", "last", cwd=workdir).stdout
    assert "not stored" in text and "out" in text
    assert list((store_dir / "objects" / "tmp").iterdir()) == []  # no half object left


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert isinstance(port, int)
        return port


def test_a_push_to_a_full_server_is_507_and_leaves_no_tree_without_its_files(
        tmp_path: Path, small_disk: Callable[..., Path]) -> None:
    small_disk(tmp_path / "server" / ".cairn", "2m")
    server = server_project(tmp_path / "server")
    live = LiveServer(server, auth=False).start()
    try:
        alice = make_project(tmp_path / "alice")
        data = alice.root / "data"
        data.mkdir()
        for i in range(4):
            (data / f"part-{i}.bin").write_bytes(os.urandom(600 * 1024))
        done = cairn_cli("snapshot", "-m", "big", "-i", "data", cwd=alice.root)
        assert done.returncode == 0, done.stderr
        assert cairn_cli("remote", "add", "team", live.url, cwd=alice.root).returncode == 0

        pushed = cairn_cli("push", cwd=alice.root)

        assert pushed.returncode != 0 and "Traceback" not in pushed.stderr
        assert "HTTP 507" in pushed.stderr and "no space" in pushed.stderr, pushed.stderr
        report = fsck(LocalObjectStore(server.objects_dir))
        assert report.missing == [] and report.corrupt == []
        assert report.trees == 0  # the folder's tree waits for every file it lists
        with httpx.Client(base_url=f"{live.url}/api/v1") as api:
            assert api.get("/runs").json()["runs"] == []  # no run became visible
        leftovers = list((server.objects_dir / "tmp").iterdir())
        assert leftovers == []
    finally:
        live.stop()


def test_a_tree_is_refused_until_every_file_it_lists_is_there(tmp_path: Path) -> None:
    server = server_project(tmp_path / "server")
    live = LiveServer(server, auth=False).start()
    try:
        blob = b"the only file\n"
        blob_oid = hash_bytes(blob)
        tree = Tree((TreeEntry("a.txt", blob_oid, len(blob)),)).to_bytes()
        tree_oid = hash_bytes(tree)
        with httpx.Client(base_url=f"{live.url}/api/v1", headers=CLIENT) as api:
            early = api.put(f"/objects/{tree_oid}", content=tree)
            assert early.status_code == 409, early.text
            assert early.json()["error"]["code"] == "conflict"
            assert api.head(f"/objects/{tree_oid}").status_code == 404  # nothing stored
            assert api.put(f"/objects/{blob_oid}", content=blob).status_code == 201
            assert api.put(f"/objects/{tree_oid}", content=tree).status_code == 201
        assert fsck(LocalObjectStore(server.objects_dir)).ok
    finally:
        live.stop()


def _serve(root: Path, port: int) -> subprocess.Popen[bytes]:
    """``cairn server`` as its own process, ready to answer."""
    proc = subprocess.Popen([PYTHON, "-m", "cairn", "server", "--port", str(port), "--no-auth"],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/server", timeout=1).status_code < 500:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("cairn server did not start")


def test_uploads_of_a_killed_server_are_removed_when_it_starts_again(tmp_path: Path) -> None:
    server = make_project(tmp_path / "server")
    uploads = server.objects_dir / "tmp"
    port = _free_port()
    proc = _serve(server.root, port)
    stop = threading.Event()

    def body() -> Iterator[bytes]:
        yield b"y" * MiB
        stop.wait(60)  # the rest never comes: the server is killed meanwhile

    oid = "ab" * 32
    sender = threading.Thread(target=lambda: _quietly(lambda: httpx.put(
        f"http://127.0.0.1:{port}/api/v1/objects/{oid}", content=body(),
        headers={**CLIENT, "Content-Length": str(300 * MiB)}, timeout=60)), daemon=True)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while not any(p.name.startswith("upload-") and p.stat().st_size
                      for p in _files(uploads)):
            assert time.monotonic() < deadline, "the upload never reached the server's disk"
            time.sleep(0.05)
        proc.kill()  # as a crash or an OOM kill would
        proc.wait(10)
        left = [p for p in _files(uploads) if p.name.startswith("upload-")]
        assert left, "the killed server left nothing to clean up"
        # A writer that is alive: a fresh temporary file of a local cairn run.
        fresh = uploads / uuid.uuid4().hex
        fresh.write_bytes(b"being written")
        proc = _serve(server.root, port)
        assert [p for p in _files(uploads) if p.name.startswith("upload-")] == []
        assert fresh.exists()
    finally:
        stop.set()
        proc.kill()
        proc.wait(10)


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except Exception:  # the server was killed under it: the point of the test
        pass


def _files(folder: Path) -> list[Path]:
    return list(folder.iterdir()) if folder.is_dir() else []


def test_fsck_removes_temporaries_that_no_writer_touched_for_an_hour(project: Project) -> None:
    tmp = project.objects_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    stale, fresh = tmp / uuid.uuid4().hex, tmp / uuid.uuid4().hex
    stale.write_bytes(b"z" * MiB)
    fresh.write_bytes(b"z")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))

    done = cairn_cli("fsck", cwd=project.root)

    assert done.returncode == 0, done.stderr
    assert not stale.exists() and fresh.exists()


# -- secrets on the command line ------------------------------------------------------------
TRAIN = """
    import argparse, hashlib
    p = argparse.ArgumentParser()
    p.add_argument("--api-key")
    p.add_argument("--db")
    p.add_argument("--lr", type=float, default=0.1)
    a = p.parse_args()
    proof = hashlib.sha256((a.api_key + "|" + a.db).encode()).hexdigest()[:16]
    print("proof", proof, "lr", a.lr)
"""
SECRETS = (b"SEKRET", b"hunter2")
REAL = {"CAIRN_SECRET_API_KEY": "SEKRET", "CAIRN_SECRET_DB": "postgresql://u:hunter2@h/db"}
PROOF = hashlib.sha256(b"SEKRET|postgresql://u:hunter2@h/db").hexdigest()[:16]


def _leaks(folder: Path) -> list[str]:
    """Every file under ``folder`` whose bytes hold one of the secrets."""
    return [str(p) for p in folder.rglob("*")
            if p.is_file() and any(s in p.read_bytes() for s in SECRETS)]


def test_secrets_on_the_command_line_are_recorded_nowhere(workdir: Path, tmp_path: Path) -> None:
    write(workdir, "train.py", TRAIN)
    done = cairn_cli("run", "--", PYTHON, "train.py", "--api-key", "SEKRET",
                     "--db", "postgresql://u:hunter2@h/db", cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert f"proof {PROOF}" in done.stdout  # the program itself got the real values

    assert _leaks(workdir / ".cairn") == []  # the DB file's bytes, objects, run folders
    shown = _show(workdir)
    text = json.dumps(shown)
    assert "SEKRET" not in text and "hunter2" not in text
    assert shown["command"][-4:] == ["--api-key", "***", "--db", "postgresql://u:***@h/db"]
    assert shown["params"]["api_key"] == "***"
    assert [r["arg"] for r in shown["redacted"]] == ["--api-key", "--db"]
    assert "2 secret arguments redacted" in cairn_cli("show", "last", cwd=workdir).stdout

    report = tmp_path / "report.html"
    assert cairn_cli("report", "last", "-o", str(report), cwd=workdir).returncode == 0
    assert not any(s in report.read_bytes() for s in SECRETS)

    server = server_project(tmp_path / "server")
    live = LiveServer(server, auth=False).start()
    try:
        assert cairn_cli("remote", "add", "team", live.url, cwd=workdir).returncode == 0
        pushed = cairn_cli("push", cwd=workdir)
        assert pushed.returncode == 0, pushed.stderr
        bundle = httpx.get(f"{live.url}/api/v1/runs/{shown['id']}/bundle")
        assert bundle.status_code == 200
        assert not any(s in bundle.content for s in SECRETS)
        page = httpx.get(f"{live.url}/runs/{shown['id']}", headers={"Accept": "text/html"})
        assert not any(s in page.content for s in SECRETS)
    finally:
        live.stop()
    assert _leaks(server.store_dir) == []


def test_repro_and_fork_take_the_redacted_values_from_the_environment(workdir: Path) -> None:
    write(workdir, "train.py", TRAIN)
    done = cairn_cli("run", "--", PYTHON, "train.py", "--api-key", "SEKRET",
                     "--db", "postgresql://u:hunter2@h/db", cwd=workdir)
    assert done.returncode == 0, done.stderr

    refused = cairn_cli("repro", "1", "--env", "current", cwd=workdir)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "CAIRN_SECRET_API_KEY" in refused.stderr
    assert _show(workdir)["number"] == 1  # nothing was run or recorded

    again = cairn_cli("repro", "1", "--env", "current", cwd=workdir, env=REAL)
    assert again.returncode == 0, again.stderr
    assert "REPRODUCED" in again.stdout + again.stderr
    forked = cairn_cli("fork", "1", "--set", "lr=0.2", cwd=workdir, env=REAL)
    assert forked.returncode == 0, forked.stderr
    for ref in ("2", "3"):
        logs = cairn_cli("logs", ref, cwd=workdir).stdout
        assert f"proof {PROOF}" in logs, (ref, logs)  # rerun with the real values
        assert "CAIRN_SECRET_API_KEY" not in json.dumps(_show(workdir, ref)["env_vars"])
    assert _leaks(workdir / ".cairn") == []


@pytest.mark.parametrize(("argv", "shown", "env"), [
    (["x", "--secret=abc"], ["x", "--secret=***"], "CAIRN_SECRET_SECRET"),
    (["x", "--token", "abc"], ["x", "--token", "***"], "CAIRN_SECRET_TOKEN"),
    (["x", "--password", "abc"], ["x", "--password", "***"], "CAIRN_SECRET_PASSWORD"),
    (["x", "https://me:abc@host/repo"], ["x", "https://me:***@host/repo"],
     "CAIRN_SECRET_ARG1"),
    (["x", "--url=https://me:abc@h/"], ["x", "--url=https://me:***@h/"], "CAIRN_SECRET_URL"),
])
def test_each_form_of_secret_argument_is_redacted_and_restored(argv: list[str],
                                                               shown: list[str],
                                                               env: str) -> None:
    redacted, redactions = redact_argv(argv)
    assert redacted == shown and [r.env for r in redactions] == [env]
    value = argv[1].partition("=")[2] if "=" in argv[1] else argv[-1]
    assert restore_argv(redacted, redactions, {env: value}, ask=None) == argv
    with pytest.raises(InvalidInput, match=env):
        restore_argv(redacted, redactions, {}, ask=None)


def test_a_switch_and_plain_words_are_left_alone() -> None:
    argv = ["x", "--password", "--lr", "0.1", "ssh://git@host/repo"]
    assert redact_argv(argv) == (argv, [])


# -- file modes ---------------------------------------------------------------------------------
def test_the_store_is_private_whatever_the_umask(workdir: Path) -> None:
    script = ("import os, subprocess, sys; os.umask(0o022); "
              "sys.exit(subprocess.call([sys.executable, '-m', 'cairn', 'init']))")
    done = subprocess.run([sys.executable, "-c", script], cwd=workdir, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert cairn_cli("ls", cwd=workdir).returncode == 0  # the database is made in the file
    store = workdir / ".cairn"
    assert stat.S_IMODE(store.stat().st_mode) == 0o700
    assert stat.S_IMODE((store / "cairn.db").stat().st_mode) == 0o600
    assert (store / "cairn.db").stat().st_size > 0


@pytest.mark.parametrize("flag", ["--max-tokens", "--author", "--sort-key", "--num_tokens"])
def test_hyperparameters_that_merely_contain_a_secret_word_are_kept(flag: str) -> None:
    argv = ["train.py", flag, "512"]
    assert redact_argv(argv) == (argv, [])


def test_a_full_metadata_disk_is_store_full_and_keeps_what_was_written(tmp_path: Path) -> None:
    from cairn.errors import StoreFull
    from cairn.store.db import Database

    db = Database(f"sqlite:///{tmp_path / 'full.db'}")
    with db.write() as w:
        w.execute("CREATE TABLE notes (body TEXT)")
        w.execute("INSERT INTO notes VALUES ('kept')")
    pages = db.query_one("PRAGMA page_count")
    assert pages is not None
    db.query(f"PRAGMA max_page_count = {int(pages[0]) + 2}")  # SQLite's own "disk is full"
    with pytest.raises(StoreFull) as refused, db.write() as w:
        w.execute("INSERT INTO notes VALUES (?)", ("x" * 1_000_000,))
    assert refused.value.http_status == 507 and refused.value.exit_code == 4
    assert "no space left" in refused.value.message
    assert db.query("SELECT body FROM notes") == [("kept",)]
    db.close()
