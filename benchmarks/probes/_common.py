"""What every probe shares: reading its arguments, reporting figures, running workers.

Probes run inside another tool's interpreter (cairn's venv, MLflow's venv), so they use the
standard library only and are run as scripts, never imported by the harness: either once per
measurement (``probe.py MODE JSON``) or as a small server that forks a child per measurement
(``probe.py --serve``, see ``_serve``).
"""

from __future__ import annotations

import importlib
import json
import multiprocessing as mp
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

RESULT_PREFIX = "BENCH-RESULT "

Mode = Callable[[dict[str, Any]], dict[str, float]]


class Unavailable(Exception):
    """Raised by a probe when the API it measures does not exist."""


def _missing_api(exc: BaseException, package: str) -> bool:
    if isinstance(exc, ModuleNotFoundError):
        return (exc.name or "").split(".")[0] == package
    if isinstance(exc, ImportError):
        return package in str(exc)
    if isinstance(exc, AttributeError):
        return f"module '{package}" in str(exc)
    return False


def _run(modes: dict[str, Mode], package: str, mode: str, args: dict[str, Any]) -> str:
    """Run one mode; the outcome as the JSON the harness reads."""
    status, values, reason = "ok", {}, ""
    try:
        values = modes[mode](args)
    except Unavailable as exc:
        status, reason = "unavailable", str(exc)
    except Exception as exc:
        if _missing_api(exc, package):
            status, reason = "unavailable", f"{type(exc).__name__}: {exc}"
        else:
            traceback.print_exc()
            status, reason = "failed", f"{type(exc).__name__}: {exc}"[:500]
    return json.dumps({"status": status, "values": values, "reason": reason})


def _serve(modes: dict[str, Mode], package: str, preload: tuple[str, ...]) -> None:
    """Answer requests from stdin, each in a child forked from this process.

    This process has imported the tool already, so each child starts where a fresh
    interpreter would be after its imports, without paying them again (MLflow's take ~2 s).
    Nothing a child does reaches this process or the next child. A module that fails to
    load here is left for each child to import, and to report, itself.
    """
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:
            break
    for line in sys.stdin:
        request = json.loads(line)
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            code = 1
            try:
                os.chdir(request["cwd"])
                os.environ.update(request["env"])
                result = _run(modes, package, request["mode"], request["args"])
                with os.fdopen(write_end, "w") as out:
                    out.write(result)
                code = 0
            finally:
                sys.stderr.flush()
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end) as answer:
            result = answer.read()
        _, status = os.waitpid(pid, 0)
        if not result:
            result = json.dumps({"status": "failed", "values": {},
                                 "reason": f"the probe process died (wait status {status})"})
        print(RESULT_PREFIX + result, flush=True)


def main(modes: dict[str, Mode], package: str, preload: tuple[str, ...] = ()) -> None:
    """``probe.py MODE JSON_ARGS`` runs one mode; ``probe.py --serve`` answers requests."""
    if sys.argv[1] == "--serve":
        _serve(modes, package, preload or (package,))
        return
    mode, args = sys.argv[1], json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}")
    result = _run(modes, package, mode, args)
    print(RESULT_PREFIX + result, flush=True)
    if json.loads(result)["status"] == "failed":
        sys.exit(1)


Worker = Callable[[int, Callable[[], object]], dict[str, float]]


def concurrent(workers: int, body: Worker, timeout: float = 600.0) -> dict[str, float]:
    """Fork ``workers`` processes running ``body(index, wait_for_all)``; sum their figures.

    Forking after the tool is imported keeps interpreter start-up out of the measurement; the
    barrier makes every worker log at the same time, which is the contention being measured.
    Each body returns ``t0``/``t1`` (epoch seconds around its logging), ``points`` and
    ``errors``. A worker that dies counts as a crash and all its points as errors.
    """
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(workers)
    queue: Any = ctx.Queue()

    def child(index: int) -> None:
        try:
            queue.put(body(index, lambda: barrier.wait(timeout)))
        except BaseException as exc:
            queue.put({"crash": f"{type(exc).__name__}: {exc}"})
            raise

    procs = [ctx.Process(target=child, args=(i,)) for i in range(workers)]
    for proc in procs:
        proc.start()
    results = []
    deadline = time.monotonic() + timeout
    for _ in procs:
        try:
            results.append(queue.get(timeout=max(1.0, deadline - time.monotonic())))
        except Exception:
            break
    for proc in procs:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()
    done = [r for r in results if "crash" not in r]
    crashed = workers - len(done)
    if not done:
        reasons = "; ".join(str(r.get("crash")) for r in results)
        raise RuntimeError(f"all {workers} workers failed: {reasons}"[:500])
    points = sum(r["points"] for r in done)
    span = max(r["t1"] for r in done) - min(r["t0"] for r in done)
    return {
        "points_per_s": points / span,
        "errors": sum(r["errors"] for r in done) + crashed,
        "crashed": float(crashed),
        "points": points,
        "seconds": span,
    }
