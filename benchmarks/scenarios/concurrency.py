"""Concurrency: 4 and 8 processes logging into one store at the same time.

Each sample forks the workers from one interpreter that has already imported the tool (so
start-up is not measured), lines them up on a barrier, and has each log points one call at a
time and finish. Points/s is every logged point over the span from the first worker's start
to the last worker's finish; errors are failed calls plus crashed workers; lost points are
those logged without error but missing from the store afterwards. Each worker count gets its
own new store; one probe process runs both, to keep the quick mode quick.
"""

from __future__ import annotations

from collections.abc import Iterator

from benchmarks.harness import Case, Context, Figure, Side, SideFn
from benchmarks.procs import run_probe
from benchmarks.scenarios.common import fresh, mlflow_store, rate

WORKERS = (4, 8)


def _figures() -> tuple[Figure, ...]:
    figures: list[Figure] = []
    for w in WORKERS:
        figures += [
            rate(f"points_per_s_{w}", f"{w} processes: points/s, all together", "points"),
            Figure(f"errors_{w}", f"{w} processes: errors (failed calls, crashed workers)",
                   "count", compare=False),
            Figure(f"lost_points_{w}", f"{w} processes: points missing from the store",
                   "count", compare=False),
        ]
    return tuple(figures)


def _cairn(ctx: Context, steps: int) -> SideFn:
    def run() -> dict[str, float]:
        cwd = fresh(ctx, "conc-cairn")
        groups = [[w, str(cwd / f"w{w}" / ".cairn")] for w in WORKERS]
        return run_probe(ctx.cairn, "cairn_probe", "concurrency",
                         {"groups": groups, "steps": steps}, cwd=cwd, timeout=ctx.timeout)

    return run


def _mlflow(ctx: Context, steps: int) -> SideFn:
    def run() -> dict[str, float]:
        ctx.mlflow.check()
        groups = []
        for w in WORKERS:
            cwd, env = mlflow_store(ctx, f"conc-mlflow-{w}")
            groups.append([w, str(cwd / "mlflow.db")])
        return run_probe(ctx.mlflow, "mlflow_probe", "concurrency",
                         {"groups": groups, "steps": steps}, cwd=cwd, env=env,
                         timeout=ctx.timeout)

    return run


def cases(ctx: Context) -> Iterator[Case]:
    # MLflow writes each call through (~3 ms); cairn buffers. Each gets a number of points
    # that keeps its sample to a few seconds; the rates are per point.
    c_steps, m_steps = ctx.size(5_000, 100_000), ctx.size(25, 500)
    yield Case(
        " and ".join(map(str, WORKERS)) + " processes", _figures(),
        Side("cairn", _cairn(ctx, c_steps)), Side("mlflow", _mlflow(ctx, m_steps)),
        note=f"points per worker: cairn {c_steps:,}, mlflow {m_steps:,}",
    )
