"""MLflow's side of the SDK scenarios, run with MLflow's interpreter.

The harness sets ``MLFLOW_TRACKING_URI=sqlite:///…/mlflow.db``, a copy of a database that
``template`` created once, so that MLflow's schema migrations (about 2 s) are not timed.
"""

from __future__ import annotations

import random
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

from _common import concurrent, main


def _import() -> Any:
    import mlflow

    return mlflow


def _db_path() -> str:
    import mlflow

    uri = str(mlflow.get_tracking_uri())
    if not uri.startswith("sqlite:///"):
        raise RuntimeError(f"expected a sqlite:/// tracking URI, got {uri}")
    return uri[len("sqlite:///") :]


def _count(sql: str, *args: object) -> int:
    con = sqlite3.connect(_db_path())
    try:
        return int(con.execute(sql, args).fetchone()[0] or 0)
    finally:
        con.close()


def _expect(what: str, got: int, want: int) -> None:
    if got < want:
        raise RuntimeError(f"the store holds {got} {what}, {want} were logged")


def mode_template(args: dict[str, Any]) -> dict[str, float]:
    """Create the tracking database (tables and the default experiment)."""
    mlflow = _import()
    start = time.perf_counter()
    mlflow.MlflowClient().search_experiments()
    return {"create_s": time.perf_counter() - start}


def mode_log(args: dict[str, Any]) -> dict[str, float]:
    """Per-call ``mlflow.log_metric``, then ``MlflowClient.log_batch`` of 1,000 points."""
    mlflow = _import()
    from mlflow.entities import Metric

    n, steps, keys = int(args["calls"]), int(args["batch_steps"]), int(args["batch_keys"])
    values = [random.random() for _ in range(n)]
    mlflow.start_run(run_name="per-call")
    log_metric = mlflow.log_metric
    start = time.perf_counter()
    for i in range(n):
        log_metric("loss", values[i], step=i)
    looped = time.perf_counter()
    mlflow.end_run()
    flushed = time.perf_counter()

    now = int(time.time() * 1000)
    points = [Metric(f"m{j}", random.random(), now, i) for i in range(steps) for j in range(keys)]
    batches = [points[k : k + 1000] for k in range(0, len(points), 1000)]
    client = mlflow.MlflowClient()
    run = mlflow.start_run(run_name="batched")
    start_b = time.perf_counter()
    for batch in batches:
        client.log_batch(run.info.run_id, metrics=batch)
    mlflow.end_run()
    done = time.perf_counter()
    _expect("loss points", _count("SELECT count(*) FROM metrics WHERE key = 'loss'"), n)
    _expect("batched points", _count("SELECT count(*) FROM metrics WHERE key LIKE 'm%'"),
            len(points))
    return {
        "call_s": (looped - start) / n,
        "finish_s": flushed - looped,
        "flushed_points_per_s": n / (flushed - start),
        "batch_points_per_s": len(points) / (done - start_b),
    }


def _one_run(mlflow: Any, i: int, rng: random.Random) -> None:
    with mlflow.start_run(run_name=f"run-{i}", tags={"bench": "runs"}):
        mlflow.log_params({"lr": rng.choice([0.1, 0.01, 0.001]), "depth": rng.randint(2, 12),
                           "model": rng.choice(["rf", "gbm", "mlp"]), "seed": i, "batch": 32})
        mlflow.log_metrics({"acc": rng.random(), "loss": rng.random(), "f1": rng.random()},
                           step=0)


def mode_runs(args: dict[str, Any]) -> dict[str, float]:
    """``n`` runs with 5 params, 1 tag and 3 metrics each, one after the other."""
    mlflow = _import()
    n, rng = int(args["runs"]), random.Random(int(args.get("seed", 0)))
    mlflow.MlflowClient().search_experiments()  # connect before timing, as cairn's init does
    start = time.perf_counter()
    for i in range(n):
        _one_run(mlflow, i, rng)
    elapsed = time.perf_counter() - start
    _expect("runs", _count("SELECT count(*) FROM runs"), n)
    return {"run_s": elapsed / n, "total_s": elapsed}


Rows = list[tuple[Any, ...]]


def _rows(con: sqlite3.Connection, table: str, run_id: str) -> tuple[list[str], Rows]:
    cur = con.execute(f"SELECT * FROM {table} WHERE run_uuid = ?", (run_id,))
    return [d[0] for d in cur.description], cur.fetchall()


def mode_populate(args: dict[str, Any]) -> dict[str, float]:
    """``n`` runs: one through the API, the rest cloned from it with SQL in one transaction.

    Cloning copies every column MLflow wrote for the real run, with a new id, name, start
    time and fresh random values for the params and metrics, so ``search_runs`` sees the same
    rows it would after ``n`` API runs (which would take ~11 ms each).
    """
    mlflow = _import()
    n, rng = int(args["runs"]), random.Random(int(args.get("seed", 0)))
    _one_run(mlflow, 0, rng)
    start = time.perf_counter()
    con = sqlite3.connect(_db_path())
    (run_id,) = con.execute("SELECT run_uuid FROM runs").fetchone()
    fresh: dict[str, Callable[[], object]] = {
        "lr": lambda: rng.choice([0.1, 0.01, 0.001]), "depth": lambda: rng.randint(2, 12),
        "model": lambda: rng.choice(["rf", "gbm", "mlp"]), "batch": lambda: 32,
    }
    tables = {t: _rows(con, t, run_id) for t in ("runs", "params", "tags", "metrics",
                                                  "latest_metrics")}
    inserts: dict[str, Rows] = {t: [] for t in tables}
    for i in range(1, n):
        new_id, name = uuid.uuid4().hex, f"run-{i}"
        metric_values = {"acc": rng.random(), "loss": rng.random(), "f1": rng.random()}
        for table, (cols, rows) in tables.items():
            for row in rows:
                rec = dict(zip(cols, row, strict=True))
                rec["run_uuid"] = new_id
                if table == "runs":
                    rec["name"] = name
                    rec["start_time"] = int(rec["start_time"]) + i
                    rec["artifact_uri"] = str(rec["artifact_uri"]).replace(run_id, new_id)
                elif table == "params":
                    rec["value"] = str(i if rec["key"] == "seed" else fresh[rec["key"]]())
                elif table == "tags" and rec["key"] == "mlflow.runName":
                    rec["value"] = name
                elif table in ("metrics", "latest_metrics"):
                    rec["value"] = metric_values[rec["key"]]
                inserts[table].append(tuple(rec[c] for c in cols))
    with con:
        for table, rows in inserts.items():
            cols = tables[table][0]
            sql = (f"INSERT INTO {table} ({', '.join(cols)}) "
                   f"VALUES ({', '.join('?' * len(cols))})")
            con.executemany(sql, rows)
    con.close()
    _expect("runs", _count("SELECT count(*) FROM runs"), n)
    return {"populate_s": time.perf_counter() - start}


def mode_search(args: dict[str, Any]) -> dict[str, float]:
    """``mlflow.search_runs`` with a filter and without, timed after connecting."""
    mlflow = _import()
    limit = int(args["limit"])
    mlflow.MlflowClient().search_experiments()
    start = time.perf_counter()
    filtered = mlflow.search_runs(filter_string=str(args["filter"]), max_results=limit)
    middle = time.perf_counter()
    listed = mlflow.search_runs(max_results=limit)
    end = time.perf_counter()
    return {"filter_s": middle - start, "list_s": end - middle,
            "filter_rows": len(filtered), "list_rows": len(listed)}


def _warm_store_for_fork(mlflow: Any) -> None:
    """Build MLflow's store (engine, schema check: ~1 s of CPU) once, before forking.

    Without this every worker builds its own before the barrier, which costs wall time but
    not measured time. The engine's pooled connections are closed first, so no SQLite
    connection crosses the fork; workers open their own. Where MLflow's internals differ, the
    workers simply build the store themselves.
    """
    mlflow.MlflowClient().search_experiments()
    try:
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        for engine in SqlAlchemyStore._engine_map.values():
            engine.dispose()
    except (ImportError, AttributeError):
        pass


def mode_concurrency(args: dict[str, Any]) -> dict[str, float]:
    """For each ``[workers, db]`` group: that many forked processes log into that database,
    each ``steps`` points one call at a time. Figures are suffixed with ``_<workers>``."""
    mlflow = _import()
    steps = int(args["steps"])

    def body(index: int, wait_for_all: Any) -> dict[str, float]:
        mlflow.start_run(run_name=f"worker-{index}")
        wait_for_all()
        errors = 0
        t0 = time.time()
        for i in range(steps):
            try:
                mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
            except Exception:
                errors += 1
        mlflow.end_run()
        return {"t0": t0, "t1": time.time(), "points": steps - errors, "errors": errors}

    out: dict[str, float] = {}
    for workers, db in args["groups"]:
        mlflow.set_tracking_uri(f"sqlite:///{db}")
        _warm_store_for_fork(mlflow)
        result: dict[str, float] = concurrent(int(workers), body)
        stored = _count("SELECT count(*) FROM metrics WHERE key = 'loss'")
        result["lost_points"] = max(0.0, result["points"] - stored)
        out.update({f"{k}_{workers}": v for k, v in result.items()})
    return out


def mode_save_iris(args: dict[str, Any]) -> dict[str, float]:
    """The same LogisticRegression on iris as cairn's side, saved as an MLflow sklearn model."""
    import mlflow.sklearn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500, random_state=0).fit(x, y)
    mlflow.sklearn.save_model(model, str(args["path"]), input_example=x[:5])
    return {"saved": 1.0}


if __name__ == "__main__":
    main(
        {"template": mode_template, "log": mode_log, "runs": mode_runs,
         "populate": mode_populate, "search": mode_search, "concurrency": mode_concurrency,
         "save_iris": mode_save_iris},
        "mlflow",
        ("mlflow", "mlflow.entities", "mlflow.store.tracking.sqlalchemy_store"),
    )
