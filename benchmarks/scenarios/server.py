"""The tracking server: a filtered run listing over many runs, pushing a run of many small
files, and concurrent clients logging metric batches.

Both servers run with one worker process on 127.0.0.1, are started once before any
measurement and serve both the search and the logging case; requests come from a separate
load-client process (``probes/http_load.py``, standard library, one keep-alive connection per
client thread). On a 2-core machine that client shares the CPUs with the server, for both
tools alike.

- search: ``GET /api/v1/runs?filter=metrics.acc>0.5&limit=100`` against MLflow's
  ``POST /api/2.0/mlflow/runs/search`` with the same filter and ``max_results``; p50 over
  sequential requests. cairn's store is filled with SQL (``cairn_probe.mode_bulk_runs``),
  MLflow's by cloning one API run with SQL (``mlflow_probe.mode_populate``).
- push: ``cairn push`` of a run whose input is a folder of small files to a new local
  ``cairn server --no-auth``, then the same push again. No anchor here: MLflow's server has
  no push of a run with its data, and ``dvc push`` needs a remote of another kind.
- logging: N clients, each with its own run, sending batches of 10 points
  (``POST /api/v1/runs/{id}/metrics``) against MLflow's ``POST /api/2.0/mlflow/runs/log-batch``;
  afterwards every run's points are counted through the API.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import Case, Context, Side
from benchmarks.procs import Failed, Unavailable, base_env, run_command, run_probe, time_command
from benchmarks.scenarios.common import cairn_store, count, mlflow_store, rate, seconds
from benchmarks.scenarios.web import JSON, Lazy, Server, free_port, load, ok, request

FILTER, LIMIT = "metrics.acc>0.5", 100
KEYS = 10
WARMUP = 5
FILE_BYTES = 1024


def cairn_server(ctx: Context, cwd: Path, env: dict[str, str]) -> Server:
    port = free_port()
    return Server("cairn server", [ctx.cairn.script("cairn"), "server", "--no-auth",
                                   "--host", "127.0.0.1", "--port", str(port)],
                  cwd=cwd, env=env, port=port, ready_path="/api/v1/runs?limit=1",
                  timeout=120)


def mlflow_server(ctx: Context, cwd: Path, env: dict[str, str]) -> Server:
    ctx.mlflow.check()
    port = free_port()
    return Server("mlflow server", [
        ctx.mlflow.script("mlflow"), "server", "--backend-store-uri",
        env["MLFLOW_TRACKING_URI"], "--default-artifact-root", str(cwd / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=cwd, env={}, port=port, ready_path="/health", timeout=180)


# -- search -----------------------------------------------------------------------------------
def _servers(ctx: Context, runs: int) -> tuple[Lazy, Lazy]:
    """One cairn and one MLflow server over stores of ``runs`` runs, shared by the cases."""

    def start_cairn() -> Server:
        cwd, env = cairn_store(ctx, f"server-cairn-{runs}")
        run_probe(ctx.cairn, "cairn_probe", "bulk_runs", {"runs": runs}, cwd=cwd, env=env,
                  timeout=ctx.timeout)
        return cairn_server(ctx, cwd, env)

    def start_mlflow() -> Server:
        ctx.mlflow.check()
        cwd, env = mlflow_store(ctx, f"server-mlflow-{runs}")
        run_probe(ctx.mlflow, "mlflow_probe", "populate", {"runs": runs}, cwd=cwd, env=env,
                  timeout=ctx.timeout)
        return mlflow_server(ctx, cwd, env)

    return Lazy(start_cairn), Lazy(start_mlflow)


def _search(ctx: Context, runs: int, cairn: Lazy, mlflow: Lazy) -> Case:
    requests = ctx.size(20, 100)
    query = urllib.parse.urlencode({"filter": FILTER, "limit": LIMIT})

    def measure(server: Server, client: dict[str, Any], rows_of: Any) -> dict[str, float]:
        got = load(ctx.cairn, server.port, [client], requests, warmup=WARMUP)
        if got["errors"]:
            raise Failed(f"{got['errors']} of {got['requests']} requests failed: "
                         f"{got['first_error']}")
        body = client.get("bodies", [None])[0]
        method = client["method"]
        _, answer = request(server.port, method, client["path"],
                                 None if body is None else json.loads(body))
        return {"p50_s": got["p50_ms"] / 1e3, "p99_s": got["p99_ms"] / 1e3, "rows": rows_of(answer)}

    def run_cairn() -> dict[str, float]:
        return measure(cairn.get(), {"method": "GET", "path": f"/api/v1/runs?{query}"},
                       lambda a: float(len(a["runs"])))

    def run_mlflow() -> dict[str, float]:
        body = json.dumps({"experiment_ids": ["0"], "filter": "metrics.acc > 0.5",
                           "max_results": LIMIT})
        return measure(mlflow.get(), {"method": "POST", "path": "/api/2.0/mlflow/runs/search",
                                      "bodies": [body], "headers": JSON},
                       lambda a: float(len(a.get("runs", []))))

    return Case(
        f"search over {runs:,} runs",
        (seconds("p50_s", f"filter {FILTER}, {LIMIT} rows: p50"),
         seconds("p99_s", "… p99"),
         count("rows", "rows returned")),
        Side("cairn", run_cairn), Side("mlflow", run_mlflow),
        note=f"{requests} sequential requests over one keep-alive connection after "
             f"{WARMUP} unmeasured; cairn GET /api/v1/runs?filter=…&limit=100, mlflow POST "
             "/api/2.0/mlflow/runs/search; both stores filled with SQL; one worker each",
    )


# -- push -------------------------------------------------------------------------------------
def _push(ctx: Context) -> Iterator[Case]:
    files = ctx.size(2_000, 10_000)
    ws, env = cairn_store(ctx, "server-push-client")
    cli = ctx.cairn.script("cairn")
    folder = ws / "data"
    folder.mkdir()
    payload = os.urandom(files * FILE_BYTES)
    for i in range(files):
        (folder / f"f{i:06d}.bin").write_bytes(payload[i * FILE_BYTES:(i + 1) * FILE_BYTES])
    state: dict[str, Any] = {"error": None, "made": False}

    def run() -> dict[str, float]:
        if state["error"] is not None:
            raise state["error"]
        if not state["made"]:
            try:
                time_command([cli, "snapshot", "-m", "files", "-i", "data"], cwd=ws,
                             env=base_env(env), timeout=ctx.timeout)
            except (Unavailable, Failed) as exc:
                state["error"] = exc
                raise
            state["made"] = True
        cwd, server_env = cairn_store(ctx, "server-push-remote")
        run_probe(ctx.cairn, "cairn_probe", "prepare", {}, cwd=cwd, env=server_env,
                  timeout=ctx.timeout)
        server = cairn_server(ctx, cwd, server_env)
        try:
            run_command([cli, "remote", "rm", "bench"], cwd=ws, env=base_env(env),
                        timeout=60) if state.get("remote") else None
            run_command([cli, "remote", "add", "bench", f"http://127.0.0.1:{server.port}"],
                        cwd=ws, env=base_env(env), timeout=60)
            state["remote"] = True
            first = time_command([cli, "push", "-r", "bench", "last"], cwd=ws,
                                 env=base_env(env), timeout=ctx.timeout)
            again = time_command([cli, "push", "-r", "bench", "last"], cwd=ws,
                                 env=base_env(env), timeout=ctx.timeout)
        finally:
            server.stop()
            shutil.rmtree(cwd, ignore_errors=True)
        return {"push_s": first, "files_per_s": files / first, "again_s": again}

    try:
        yield Case(
            f"push {files:,} files",
            (seconds("push_s", f"cairn push of a run with {files:,} files × 1 KiB"),
             rate("files_per_s", "… files/s", "files"),
             seconds("again_s", "the same push again (nothing to send)")),
            Side("cairn", run),
            note="whole commands, to a new cairn server --no-auth on 127.0.0.1 each sample "
                 "(started outside timing); the run was made by cairn snapshot -i of the "
                 "folder; no anchor (MLflow has no push of a run with its data)",
        )
    finally:
        shutil.rmtree(ws, ignore_errors=True)


# -- concurrent logging -----------------------------------------------------------------------
def _logging(ctx: Context, runs: int, cairn: Lazy, mlflow: Lazy) -> Case:
    clients, batches = ctx.size(8, 32), ctx.size(10, 100)
    expected = clients * batches * KEYS

    def figures(got: dict[str, Any], stored: int) -> dict[str, float]:
        return {"batches_per_s": got["rps"], "p50_s": got["p50_ms"] / 1e3,
                "p99_s": got["p99_ms"] / 1e3,
                "errors": float(got["errors"]), "lost": float(expected - stored)}

    def run_cairn() -> dict[str, float]:
        server = cairn.get()
        ids = [ok(server.port, "POST", "/api/v1/runs", {"name": f"client-{i}"})
               for i in range(clients)]
        ids = [a.get("id") or a["run"]["id"] for a in ids]
        points = ", ".join(f'{{"key": "m{k}", "value": 0.5, "step": __I__}}'
                           for k in range(KEYS))
        body = f'{{"metrics": [{points}]}}'
        got = load(ctx.cairn, server.port, [
            {"method": "POST", "path": f"/api/v1/runs/{i}/metrics", "bodies": [body],
             "headers": JSON} for i in ids], batches, warmup=0)
        stored = sum(m["points"] for i in ids
                     for m in ok(server.port, "GET", f"/api/v1/runs/{i}/metrics")["metrics"])
        return figures(got, stored)

    def run_mlflow() -> dict[str, float]:
        server = mlflow.get()
        now = int(time.time() * 1000)
        ids = [ok(server.port, "POST", "/api/2.0/mlflow/runs/create",
                  {"experiment_id": "0", "start_time": now})["run"]["info"]["run_id"]
               for _ in range(clients)]
        clients_spec = []
        for run_id in ids:
            points = ", ".join(f'{{"key": "m{k}", "value": 0.5, "step": __I__, '
                               f'"timestamp": {now}}}' for k in range(KEYS))
            clients_spec.append({
                "method": "POST", "path": "/api/2.0/mlflow/runs/log-batch",
                "bodies": [f'{{"run_id": "{run_id}", "metrics": [{points}]}}'],
                "headers": JSON})
        got = load(ctx.cairn, server.port, clients_spec, batches, warmup=0)
        stored = 0
        for run_id in ids:
            for k in range(KEYS):
                q = urllib.parse.urlencode({"run_id": run_id, "metric_key": f"m{k}",
                                            "max_results": 100_000})
                stored += len(ok(server.port, "GET",
                                 f"/api/2.0/mlflow/metrics/get-history?{q}").get("metrics", []))
        return figures(got, stored)

    return Case(
        f"{clients} clients logging batches",
        (rate("batches_per_s", f"{clients} clients: batches of {KEYS} points/s", "batches"),
         seconds("p50_s", "… p50 per batch"),
         seconds("p99_s", "… p99 per batch"),
         count("errors", "errors (failed requests)"),
         count("lost", "points missing afterwards")),
        Side("cairn", run_cairn), Side("mlflow", run_mlflow),
        note=f"{clients} client threads in one load-client process, each its own new run and "
             f"connection, {batches} batches of {KEYS} points each; cairn POST "
             "/api/v1/runs/{id}/metrics, mlflow POST /api/2.0/mlflow/runs/log-batch; the "
             f"servers of the search case (stores of {runs:,} runs); points counted through "
             "each API afterwards",
    )


def cases(ctx: Context) -> Iterator[Case]:
    runs = ctx.size(10_000, 100_000)
    cairn, mlflow = _servers(ctx, runs)
    try:
        yield _search(ctx, runs, cairn, mlflow)
        yield _logging(ctx, runs, cairn, mlflow)
    finally:
        cairn.stop()
        mlflow.stop()
    yield from _push(ctx)
