"""Running measured pieces in subprocesses, and telling "not there yet" from "broken".

A side of a comparison either gives figures, or is *unavailable* (the code it measures does not
exist yet: a missing module, attribute or command), or *fails* (anything else). The difference
matters: an unavailable side is expected while cairn is being written; a failure is a bug that
the report must show, never hide.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBES = Path(__file__).resolve().parent / "probes"
RESULT_PREFIX = "BENCH-RESULT "

# What a missing piece of cairn looks like in a traceback or in click's usage error.
_MISSING = re.compile(
    r"No module named '?cairn\b"
    r"|cannot import name .* from '?cairn\b"
    r"|module '?cairn[\w.]*'? has no attribute"
    r"|No such command"
    r"|No such option"
)


class Unavailable(Exception):
    """The measured code does not exist (yet); the side is reported as not available."""


class Failed(Exception):
    """The measured code exists but did not work; the side is reported as a failure."""


@dataclass(frozen=True)
class Tool:
    """One tool's interpreter and scripts. ``missing``: why it could not be set up."""

    name: str
    python: Path
    env: Mapping[str, str] = field(default_factory=dict)
    missing: str | None = None

    @property
    def bin(self) -> Path:
        return self.python.parent

    def script(self, name: str) -> Path:
        return self.bin / name

    def check(self) -> None:
        if self.missing:
            raise Failed(self.missing)


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A quiet environment with telemetry off for every tool, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "MLFLOW_"))}
    env.pop("VIRTUAL_ENV", None)
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DVC_NO_ANALYTICS": "1",
        }
    )
    if extra:
        env.update(extra)
    return env


def _classify(what: str, rc: int, output: str) -> Exception:
    tail = [line for line in output.strip().splitlines() if line.strip()][-3:]
    reason = f"{what}: exit {rc}: " + " | ".join(tail)[-400:]
    return Unavailable(reason) if _MISSING.search(output) else Failed(reason)


def run_command(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
) -> tuple[float, str]:
    """Wall-clock seconds and stdout of one whole command; Unavailable or Failed if it fails.

    stderr goes to its own pipe so that a warning cannot spoil output that is parsed.
    """
    what = " ".join(Path(str(a)).name if i == 0 else str(a) for i, a in enumerate(argv))
    if not Path(str(argv[0])).exists():
        raise Unavailable(f"{argv[0]} does not exist")
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [str(a) for a in argv],
            cwd=cwd,
            env=dict(env),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Failed(f"{what}: timed out after {timeout:.0f} s") from exc
    elapsed = time.perf_counter() - start
    out = done.stdout.decode(errors="replace")
    if done.returncode != 0:
        raise _classify(what, done.returncode, out + "\n" + done.stderr.decode(errors="replace"))
    return elapsed, out


def time_command(
    argv: Sequence[str | Path], *, cwd: Path, env: Mapping[str, str], timeout: float
) -> float:
    """Wall-clock seconds of one whole command; Unavailable or Failed if it fails."""
    return run_command(argv, cwd=cwd, env=env, timeout=timeout)[0]


class _ProbeServer:
    """``probe.py --serve`` for one tool: it imports the tool once and forks a child per
    measurement, so MLflow's ~2 s of imports is paid once a session, not once a sample."""

    def __init__(self, tool: Tool, probe: str) -> None:
        self.name = probe
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [str(tool.python), str(PROBES / f"{probe}.py"), "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            env=base_env(tool.env), cwd=PROBES, start_new_session=True,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def ask(self, mode: str, args: Mapping[str, object], env: Mapping[str, str], cwd: Path,
            timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        request = {"mode": mode, "args": dict(args), "env": dict(env), "cwd": str(cwd)}
        what = f"{self.name} {mode}"
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise self._died(what) from None
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                self.close()
                raise Failed(f"{what}: timed out after {timeout:.0f} s")
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                raise self._died(what)
            if line.startswith(RESULT_PREFIX):
                return dict(json.loads(line[len(RESULT_PREFIX) :]))

    def _died(self, what: str) -> Exception:
        rc = self.proc.wait()
        self.stderr.seek(0)
        return _classify(what, rc, self.stderr.read().decode(errors="replace")[-2000:])

    def close(self) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.stderr.close()


_servers: dict[tuple[Path, str], _ProbeServer] = {}


def close_probe_servers() -> None:
    while _servers:
        _servers.popitem()[1].close()


def run_probe(
    tool: Tool,
    probe: str,
    mode: str,
    args: Mapping[str, object],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float,
) -> dict[str, float]:
    """Run MODE of ``probes/<probe>.py`` in a fresh child of the tool's probe server.

    The probe times what it measures itself and answers its figures.
    """
    tool.check()
    key = (tool.python, probe)
    server = _servers.get(key)
    if server is None or not server.alive():
        server = _servers[key] = _ProbeServer(tool, probe)
    result = server.ask(mode, args, env or {}, cwd, timeout)
    if result["status"] == "unavailable":
        raise Unavailable(f"{probe} {mode}: {result['reason']}")
    if result["status"] != "ok":
        raise Failed(f"{probe} {mode}: {result['reason']}")
    return {str(k): float(v) for k, v in result["values"].items()}
