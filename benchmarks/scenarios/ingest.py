"""Metric logging: per-call ``cairn.log`` vs ``mlflow.log_metric``, then batched ingest
(``cairn.log`` of 100 keys per step vs ``MlflowClient.log_batch`` of 1,000 points)."""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.harness import Case, Context, Side, SideFn
from benchmarks.procs import run_probe
from benchmarks.scenarios.common import cairn_store, mlflow_store, rate, seconds

FIGURES = (
    seconds("call_s", "per call, one key (buffered for cairn)"),
    seconds("finish_s", "finish / end_run after the calls"),
    rate("flushed_points_per_s", "per-call points/s, flush included", "points"),
    rate("batch_points_per_s", "batched ingest, flush included", "points"),
)
BATCH_KEYS = 100


def _sizes(ctx: Context) -> dict[str, dict[str, int]]:
    # MLflow takes ~3 ms a call, so it gets fewer calls; the figures are per call and per
    # point, and each side's counts are in the JSON.
    return {
        "cairn": {"calls": ctx.size(50_000, 1_000_000), "batch_steps": ctx.size(500, 10_000),
                  "batch_keys": BATCH_KEYS},
        "mlflow": {"calls": ctx.size(100, 2_000), "batch_steps": ctx.size(20, 1_000),
                   "batch_keys": BATCH_KEYS},
    }


def _cairn(ctx: Context, args: dict[str, int]) -> SideFn:
    def run() -> dict[str, float]:
        cwd, env = cairn_store(ctx, "log-cairn")
        return run_probe(ctx.cairn, "cairn_probe", "log", args, cwd=cwd, env=env,
                         timeout=ctx.timeout)

    return run


def _mlflow(ctx: Context, args: dict[str, int]) -> SideFn:
    def run() -> dict[str, float]:
        ctx.mlflow.check()
        cwd, env = mlflow_store(ctx, "log-mlflow")
        return run_probe(ctx.mlflow, "mlflow_probe", "log", args, cwd=cwd, env=env,
                         timeout=ctx.timeout)

    return run


def cases(ctx: Context) -> Iterator[Case]:
    sizes = _sizes(ctx)
    c, m = sizes["cairn"], sizes["mlflow"]
    yield Case(
        "metric logging", FIGURES,
        Side("cairn", _cairn(ctx, c)), Side("mlflow", _mlflow(ctx, m)),
        note=(f"cairn: {c['calls']:,} calls, {c['batch_steps'] * BATCH_KEYS:,} batched points; "
              f"mlflow: {m['calls']:,} calls, {m['batch_steps'] * BATCH_KEYS:,} batched points "
              "in batches of 1,000. Targets: under 5 µs a call, over 1 M points/s"),
    )
