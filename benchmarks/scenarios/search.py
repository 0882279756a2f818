"""Search: a filtered query and a plain listing over many runs.

cairn's store is filled through the SDK (the same loop as the run-creation scenario). MLflow's
is filled with one run made through its API and the rest cloned from it with SQL in one
transaction (see ``mlflow_probe.mode_populate``): 100,000 API runs would take ~20 minutes.
cairn is timed as the whole ``cairn ls`` command; MLflow as the ``search_runs`` call alone,
after import and connection, which favours MLflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import Case, Context, Side, SideFn
from benchmarks.procs import Failed, Unavailable, base_env, run_command, run_probe
from benchmarks.scenarios.common import cairn_store, count, mlflow_store, seconds

FILTER = "metrics.acc > 0.5"
LIMIT = 1000
FIGURES = (
    seconds("filter_s", f"filter '{FILTER}', {LIMIT:,} rows"),
    seconds("list_s", f"list, {LIMIT:,} rows"),
    count("filter_rows", "rows returned by the filter"),
)


class _Store:
    """A store filled once for the case; a failure to fill it fails every sample."""

    def __init__(self) -> None:
        self.cwd: Path | None = None
        self.env: dict[str, str] = {}
        self.error: Unavailable | Failed | None = None
        self.populate: dict[str, float] = {}

    def ready(self) -> tuple[Path, dict[str, str]]:
        if self.error is not None:
            raise self.error
        assert self.cwd is not None
        return self.cwd, self.env


def _fill_cairn(ctx: Context, runs: int) -> _Store:
    store = _Store()
    try:
        store.cwd, store.env = cairn_store(ctx, f"search-cairn-{runs}")
        store.populate = run_probe(ctx.cairn, "cairn_probe", "runs", {"runs": runs},
                                   cwd=store.cwd, env=store.env, timeout=ctx.timeout)
    except (Unavailable, Failed) as exc:
        store.error = exc
    return store


def _fill_mlflow(ctx: Context, runs: int) -> _Store:
    store = _Store()
    try:
        ctx.mlflow.check()
        store.cwd, store.env = mlflow_store(ctx, f"search-mlflow-{runs}")
        store.populate = run_probe(ctx.mlflow, "mlflow_probe", "populate", {"runs": runs},
                                   cwd=store.cwd, env=store.env, timeout=ctx.timeout)
    except (Unavailable, Failed) as exc:
        store.error = exc
    return store


def _rows(output: str) -> float:
    data = json.loads(output)
    if isinstance(data, dict):
        data = data.get("runs", data.get("items", []))
    return float(len(data))


def _cairn(ctx: Context, store: _Store) -> SideFn:
    def run() -> dict[str, float]:
        cwd, extra = store.ready()
        env, ls = base_env(extra), ctx.cairn.script("cairn")
        filt, out = run_command([ls, "ls", "--filter", FILTER, "--limit", str(LIMIT), "--json"],
                                cwd=cwd, env=env, timeout=ctx.timeout)
        listed, _ = run_command([ls, "ls", "--limit", str(LIMIT), "--json"], cwd=cwd, env=env,
                                timeout=ctx.timeout)
        try:
            rows = _rows(out)
        except ValueError as exc:
            raise Failed(f"cairn ls --json printed something that is not JSON: {exc}") from exc
        return {"filter_s": filt, "list_s": listed, "filter_rows": rows}

    return run


def _mlflow(ctx: Context, store: _Store) -> SideFn:
    def run() -> dict[str, float]:
        cwd, env = store.ready()
        got = run_probe(ctx.mlflow, "mlflow_probe", "search", {"filter": FILTER, "limit": LIMIT},
                        cwd=cwd, env=env, timeout=ctx.timeout)
        return {"filter_s": got["filter_s"], "list_s": got["list_s"],
                "filter_rows": got["filter_rows"]}

    return run


def cases(ctx: Context) -> Iterator[Case]:
    for runs in ctx.size(2_000, 10_000), *([] if ctx.quick else [100_000]):
        cairn, mlflow = _fill_cairn(ctx, runs), _fill_mlflow(ctx, runs)
        fill = ""
        if cairn.populate:
            fill += f"cairn filled through the SDK at {cairn.populate['run_s'] * 1e3:.2f} ms/run"
        if mlflow.populate:
            fill += f"; mlflow cloned with SQL in {mlflow.populate['populate_s']:.1f} s"
        yield Case(
            f"search {runs:,} runs", FIGURES,
            Side("cairn", _cairn(ctx, cairn)), Side("mlflow", _mlflow(ctx, mlflow)),
            note=("cairn: whole `cairn ls` command; mlflow: search_runs call only. "
                  f"{fill}. Target: cairn ls on 10k runs under 0.3 s, filter on 100k under "
                  "0.5 s"),
            warmup=True,
        )
