"""``cairn server`` as a user starts it: a real process, one worker or several."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from cairn.project import Project
from tests.server.live import make_token


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess(subprocess.Popen[str]):
    """A ``cairn server`` subprocess; ``output`` holds what it printed, once it stopped."""

    output = ""


@contextmanager
def cairn_server(cwd: Path, *args: str) -> Iterator[tuple[str, ServerProcess]]:
    port = _free_port()
    proc = ServerProcess(
        [sys.executable, "-m", "cairn", "server", "--port", str(port), *args], cwd=cwd,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/server", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"cairn server did not start: {proc.stdout.read()}"
                                   if proc.stdout else "cairn server did not start")
            time.sleep(0.1)
        yield url, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.output = proc.stdout.read()
            proc.stdout.close()


def test_several_workers_share_one_store(server_dir: Project) -> None:
    with cairn_server(server_dir.root, "--workers", "2", "--no-auth") as (url, _proc), \
            httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client:
        made = [client.post("/runs", json={"name": f"w{i}"}).json() for i in range(6)]
        assert sorted(r["number"] for r in made) == [1, 2, 3, 4, 5, 6]
        listed = client.get("/runs").json()["runs"]
        assert [r["name"] for r in listed] == [f"w{i}" for i in reversed(range(6))]


def test_the_server_says_what_to_do_without_users(server_dir: Project) -> None:
    with cairn_server(server_dir.root) as (url, proc):
        assert httpx.get(f"{url}/api/v1/runs").status_code == 401
    said = proc.output
    assert "127.0.0.1" in said and "no users yet" in said


def test_a_token_made_on_the_command_line_works(server_dir: Project) -> None:
    token = make_token(server_dir, "ada", "admin", is_admin=True)
    with cairn_server(server_dir.root) as (url, _proc):
        who = httpx.get(f"{url}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        assert who.json()["user"] == "ada"
