"""Run creation: runs with 5 params, 1 tag and 3 metrics, one after the other.

The full mode creates 10,000 runs with each tool. The quick mode creates fewer (MLflow needs
~11 ms a run) and extrapolates the per-run time to 10,000 runs, which the report says.
"""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.harness import Case, Context, Figure, Side, SideFn
from benchmarks.procs import run_probe
from benchmarks.scenarios.common import cairn_store, mlflow_store, seconds

TARGET = 10_000


def _side(ctx: Context, tool: str, runs: int) -> SideFn:
    def run() -> dict[str, float]:
        if tool == "cairn":
            cwd, env = cairn_store(ctx, "runs-cairn")
            probe, t = "cairn_probe", ctx.cairn
        else:
            ctx.mlflow.check()
            cwd, env = mlflow_store(ctx, "runs-mlflow")
            probe, t = "mlflow_probe", ctx.mlflow
        got = run_probe(t, probe, "runs", {"runs": runs}, cwd=cwd, env=env, timeout=ctx.timeout)
        return {"run_s": got["run_s"], "total_s": got["total_s"],
                "target_s": got["run_s"] * TARGET}

    return run


def cases(ctx: Context) -> Iterator[Case]:
    n_cairn, n_mlflow = ctx.size(500, TARGET), ctx.size(50, TARGET)
    measured = "measured" if n_cairn == n_mlflow == TARGET else "EXTRAPOLATED"
    figures: tuple[Figure, ...] = (
        seconds("run_s", "per run (init, 5 params, 3 metrics, finish)"),
        seconds("target_s", f"{TARGET:,} runs ({measured})"),
    )
    if measured != "measured":
        figures += (seconds("total_s", "measured total", compare=False),)
    yield Case(
        "run creation", figures,
        Side("cairn", _side(ctx, "cairn", n_cairn)),
        Side("mlflow", _side(ctx, "mlflow", n_mlflow)),
        note=(f"cairn {n_cairn:,} runs, mlflow {n_mlflow:,} runs a sample"
              + ("" if measured == "measured" else
                 f"; the {TARGET:,}-run figure is per-run time × {TARGET:,}, not measured")
              + "; target ~1 ms a run"),
    )
