"""HTTP servers started for a scenario, and the load client that measures them.

Every server binds 127.0.0.1 on a free port, runs in its own process group and is killed by
its process id when the case is done, when the session ends (``atexit``) or when it fails to
start. The load client (``probes/http_load.py``) runs as a separate process under cairn's
interpreter, using the standard library only, so neither tool's code is in it.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.procs import PROBES, Failed, Tool, _classify, base_env

JSON = {"Content-Type": "application/json"}
_running: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(port: int, method: str, path: str, body: Any = None, timeout: float = 30.0
            ) -> tuple[int, Any]:
    """One request; the status and the decoded JSON answer (or text)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=JSON if data else {})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw.decode(errors="replace")


def ok(port: int, method: str, path: str, body: Any = None) -> Any:
    status, answer = request(port, method, path, body)
    if not 200 <= status < 300:
        raise Failed(f"{method} {path}: HTTP {status}: {str(answer)[:300]}")
    return answer


class Server:
    """A server process: started, waited for until ``ready_path`` answers, killed by PID."""

    def __init__(self, name: str, argv: Sequence[str | Path], *, cwd: Path,
                 env: Mapping[str, str], port: int, ready_path: str, timeout: float) -> None:
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen([str(a) for a in argv], cwd=cwd, env=base_env(env),
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        _running[self.proc.pid] = self.proc
        self.started_s = 0.0
        start, deadline = time.perf_counter(), time.monotonic() + timeout
        try:
            while True:
                if self.proc.poll() is not None:
                    raise _classify(f"{name} (server)", self.proc.returncode, self._output())
                with contextlib.suppress(OSError, http.client.HTTPException):
                    if request(port, "GET", ready_path, timeout=2)[0] < 500:
                        break
                if time.monotonic() > deadline:
                    raise Failed(f"{name}: not answering on 127.0.0.1:{port} after "
                                 f"{timeout:.0f} s: {self._output()[-300:]}")
                time.sleep(0.05)
        except BaseException:
            self.stop()
            raise
        self.started_s = time.perf_counter() - start

    def _output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def stop(self) -> None:
        _kill(self.proc)
        self.log.close()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    _running.pop(proc.pid, None)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the group led by this pid: its workers too
    proc.wait()


@atexit.register
def _kill_all() -> None:
    for proc in list(_running.values()):
        _kill(proc)


class Lazy:
    """A server started on first use and kept for the case; a failed start fails every use."""

    def __init__(self, start: Any) -> None:
        self._start, self.server, self.error = start, None, None

    def get(self) -> Server:
        if self.error is not None:
            raise self.error
        if self.server is None:
            try:
                self.server = self._start()
            except Exception as exc:
                self.error = exc
                raise
        return self.server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


def load(tool: Tool, port: int, clients: list[dict[str, Any]], requests: int, *,
         warmup: int = 2, collect: str | None = None, timeout: float = 300.0) -> dict[str, Any]:
    """Run the load client; its answer (``rps``, ``p50_ms``, ``p99_ms``, ``errors`` …)."""
    spec = {"host": "127.0.0.1", "port": port, "requests": requests, "warmup": warmup,
            "clients": clients, "collect": collect}
    try:
        done = subprocess.run([str(tool.python), str(PROBES / "http_load.py")],
                              input=json.dumps(spec).encode(), capture_output=True,
                              timeout=timeout, check=False, env=base_env())
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"load client timed out after {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise Failed(f"load client: exit {done.returncode}: "
                     f"{done.stderr.decode(errors='replace')[-400:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result
