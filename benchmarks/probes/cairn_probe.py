"""cairn's side of the SDK scenarios, run with cairn's interpreter and ``CAIRN_DIR`` set.

The SDK keeps working in memory when its store cannot be reached; a benchmark must not mistake
that for speed, so every mode fails on a cairn warning and checks that the store holds what
was logged.
"""

from __future__ import annotations

import io
import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from _common import Unavailable, concurrent, main


class _Tee(io.TextIOBase):
    """Passes stderr through and remembers cairn's warnings."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.warnings: list[str] = []

    def write(self, text: str) -> int:
        if "cairn: warning" in text:
            self.warnings.append(text.strip())
        return int(self.inner.write(text))

    def flush(self) -> None:
        self.inner.flush()


_tee = _Tee(sys.stderr)
sys.stderr = _tee


def _check_warnings() -> None:
    if _tee.warnings:
        raise RuntimeError(_tee.warnings[0])


def _query(sql: str, *args: object) -> int | None:
    """One integer from the store, or None where the schema differs from what is expected."""
    db = Path(os.environ["CAIRN_DIR"]) / "cairn.db"
    if not db.exists():
        raise RuntimeError(f"{db} was not created")
    con = sqlite3.connect(db)
    try:
        row = con.execute(sql, args).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        con.close()
    return None if row is None else int(row[0])


def _expect(what: str, got: int | None, want: int) -> None:
    if got is not None and got < want:
        raise RuntimeError(f"the store holds {got} {what}, {want} were logged")


def _import() -> Any:
    import cairn

    for name in ("init", "log", "finish", "log_params"):
        if not hasattr(cairn, name):
            raise Unavailable(f"cairn.{name} does not exist")
    return cairn


def mode_log(args: dict[str, Any]) -> dict[str, float]:
    """Per-call ``cairn.log`` of one key, then batched ``cairn.log`` of many keys per step."""
    cairn = _import()
    n, steps, keys = int(args["calls"]), int(args["batch_steps"]), int(args["batch_keys"])
    values = [random.random() for _ in range(n)]
    cairn.init(name="per-call")
    log = cairn.log
    start = time.perf_counter()
    for i in range(n):
        log({"loss": values[i]}, step=i)
    looped = time.perf_counter()
    cairn.finish()
    flushed = time.perf_counter()

    names = [f"m{j}" for j in range(keys)]
    batches = [{k: random.random() for k in names} for _ in range(steps)]
    cairn.init(name="batched")
    start_b = time.perf_counter()
    for i in range(steps):
        log(batches[i], step=i)
    cairn.finish()
    done = time.perf_counter()
    _check_warnings()
    _expect("runs", _query("SELECT count(*) FROM runs"), 2)
    _expect("loss points", _query("SELECT count FROM latest_metrics WHERE key = 'loss'"), n)
    _expect("m0 points", _query("SELECT count FROM latest_metrics WHERE key = 'm0'"), steps)
    return {
        "call_s": (looped - start) / n,
        "finish_s": flushed - looped,
        "flushed_points_per_s": n / (flushed - start),
        "batch_points_per_s": steps * keys / (done - start_b),
    }


def _one_run(cairn: Any, i: int, rng: random.Random) -> None:
    cairn.init(
        name=f"run-{i}",
        params={"lr": rng.choice([0.1, 0.01, 0.001]), "depth": rng.randint(2, 12),
                "model": rng.choice(["rf", "gbm", "mlp"]), "seed": i, "batch": 32},
        tags={"bench": "runs"},
    )
    cairn.log({"acc": rng.random(), "loss": rng.random(), "f1": rng.random()}, step=0)
    cairn.finish()


def mode_runs(args: dict[str, Any]) -> dict[str, float]:
    """``n`` runs with 5 params, 1 tag and 3 metrics each, one after the other."""
    cairn = _import()
    n, rng = int(args["runs"]), random.Random(int(args.get("seed", 0)))
    before = _prepare()
    start = time.perf_counter()
    for i in range(n):
        _one_run(cairn, i, rng)
    elapsed = time.perf_counter() - start
    _check_warnings()
    _expect("runs", _query("SELECT count(*) FROM runs"), before + n)
    return {"run_s": elapsed / n, "total_s": elapsed}


def _prepare() -> int:
    """Open (or create) the store outside any timing, as MLflow's side connects first."""
    cairn = _import()
    cairn.init(name="setup")
    cairn.finish()
    return _query("SELECT count(*) FROM runs") or 0


def mode_prepare(args: dict[str, Any]) -> dict[str, float]:
    return {"runs": float(_prepare())}


def _prepare_in_child() -> None:
    """Create the store from a forked child, so this process never opens it before forking."""
    import multiprocessing as mp

    def run() -> None:
        _prepare()
        _check_warnings()

    proc = mp.get_context("fork").Process(target=run)
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        raise RuntimeError(f"creating the store at {os.environ['CAIRN_DIR']} failed")


def mode_concurrency(args: dict[str, Any]) -> dict[str, float]:
    """For each ``[workers, store]`` group: that many forked processes log into that store,
    each ``steps`` points one call at a time. Figures are suffixed with ``_<workers>``."""
    cairn = _import()
    steps = int(args["steps"])

    def body(index: int, wait_for_all: Any) -> dict[str, float]:
        cairn.init(name=f"worker-{index}")
        wait_for_all()
        errors = 0
        t0 = time.time()
        for i in range(steps):
            try:
                cairn.log({"loss": 1.0 / (i + 1)}, step=i)
            except Exception:
                errors += 1
        cairn.finish()
        t1 = time.time()
        if _tee.warnings:
            errors += 1
        return {"t0": t0, "t1": t1, "points": steps - errors, "errors": errors}

    out: dict[str, float] = {}
    for workers, store in args["groups"]:
        os.environ["CAIRN_DIR"] = str(store)
        _prepare_in_child()
        result: dict[str, float] = concurrent(int(workers), body)
        stored = _query("SELECT sum(count) FROM latest_metrics WHERE key = 'loss'")
        if stored is not None:
            result["lost_points"] = max(0.0, result["points"] - stored)
        out.update({f"{k}_{workers}": v for k, v in result.items()})
    return out


def mode_bulk_runs(args: dict[str, Any]) -> dict[str, float]:
    """Add ``runs`` finished runs (5 params, 3 metrics each) with SQL in one transaction.

    The store is made first through the SDK (``_prepare``), so its schema and project are
    cairn's own; the rows follow ``benchmarks/filter_probe.py``.
    """
    n, rng = int(args["runs"]), random.Random(int(args.get("seed", 7)))
    before = _prepare()
    db = Path(os.environ["CAIRN_DIR"]) / "cairn.db"
    start = time.perf_counter()
    con = sqlite3.connect(db)
    try:
        project, first = con.execute("SELECT project_id, max(number) FROM runs").fetchone()
        now = int(time.time() * 1000)
        runs, params, metrics = [], [], []
        for i in range(1, n + 1):
            run_id, started = os.urandom(16).hex(), now - (n - i) * 1000
            runs.append((run_id, project, first + i, f"bulk-{i}", "finished", started,
                         started + 5000))
            for key, value in (("lr", 10 ** rng.uniform(-5, -1)), ("depth", rng.randint(1, 12)),
                               ("seed", i), ("batch", 32), ("epochs", 10)):
                params.append((run_id, key, repr(value), float(value)))
            for key, value in (("acc", rng.random()), ("loss", rng.uniform(0, 3)),
                               ("f1", rng.random())):
                metrics.append((run_id, key, 100, value, started, 100))
        with con:
            con.executemany("INSERT INTO runs (id, project_id, number, name, status, "
                            "started_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)", runs)
            con.executemany("INSERT INTO params (run_id, key, value, num) VALUES (?, ?, ?, ?)",
                            params)
            con.executemany("INSERT INTO latest_metrics (run_id, key, step, value, time, "
                            "count) VALUES (?, ?, ?, ?, ?, ?)", metrics)
        con.execute("ANALYZE")
    finally:
        con.close()
    elapsed = time.perf_counter() - start
    _expect("runs", _query("SELECT count(*) FROM runs"), before + n)
    return {"populate_s": elapsed}


def mode_verdict(args: dict[str, Any]) -> dict[str, float]:
    """The verdict computation of ``cairn repro`` (``compare_runs``) for two stored runs."""
    from cairn.objects.local import LocalObjectStore
    from cairn.project import require_project
    from cairn.reproduce.report import compare_runs
    from cairn.reproduce.verify import Tolerance
    from cairn.store.core import open_store
    from cairn.store.resolve import resolve_run

    project = require_project()
    store = open_store(project)
    objects = LocalObjectStore(project.objects_dir)
    a, b = resolve_run(store, str(args["original"])), resolve_run(store, str(args["other"]))
    start = time.perf_counter()
    comparison = compare_runs(project, store, objects, a, b, Tolerance())
    elapsed = time.perf_counter() - start
    if len(comparison.metrics) < int(args["metrics"]):
        raise RuntimeError(f"compared {len(comparison.metrics)} metrics, "
                           f"{args['metrics']} were logged")
    return {"verdict_s": elapsed, "metrics": float(len(comparison.metrics)),
            "outputs": float(len(comparison.outputs)), "differs": float(comparison.differs)}


def mode_log_iris(args: dict[str, Any]) -> dict[str, float]:
    """Train LogisticRegression on iris and store it with ``cairn.log_model``."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    cairn = _import()
    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
    cairn.init(name="iris")
    cairn.log_model(model, "model", example=x[:5])
    cairn.finish()
    _check_warnings()
    return {"run": float(_query("SELECT max(number) FROM runs") or 0)}


if __name__ == "__main__":
    main(
        {"prepare": mode_prepare, "log": mode_log, "runs": mode_runs,
         "concurrency": mode_concurrency,
         "bulk_runs": mode_bulk_runs, "verdict": mode_verdict, "log_iris": mode_log_iris},
        "cairn",
    )
