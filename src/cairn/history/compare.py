"""Data for the compare page: two to ten runs side by side, differences marked.

The pairwise differences (code, packages, data, host) come from ``history.diff.diff_runs``,
taken between the first run and each other one, so the page says what changed from a
baseline the user picked first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.errors import InvalidInput
from cairn.history.diff import diff_runs
from cairn.history.leaderboard import SYS_PREFIX, lower_is_better
from cairn.objects.base import ObjectStore
from cairn.pages.graphs import ParallelLine, parallel_svg
from cairn.project import Project
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.metrics import latest_metrics, point_counts
from cairn.store.resolve import resolve_run

MIN_RUNS = 2
MAX_RUNS = 10
MAX_AXES = 8
# Tableau 10: distinct on screen and in print, one colour per compared run.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac")


@dataclass(frozen=True)
class CompareRow:
    key: str
    values: tuple[Any, ...]
    cells_differ: tuple[bool, ...]  # per run: differs from the first run

    @property
    def differs(self) -> bool:
        return any(self.cells_differ)


@dataclass
class ComparePage:
    runs: list[run_store.RunRow]
    colors: list[str]
    params: list[CompareRow]
    metrics: list[CompareRow]
    chart_keys: list[str]
    diffs: list[dict[str, Any]]
    metric: str | None
    metric_keys: list[str]
    parallel: str


def split_refs(values: Sequence[str]) -> list[str]:
    """``runs=1,2,3`` and ``runs=1&runs=2`` both name runs."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def resolve_runs(store: MetaStore, refs: Sequence[str]) -> list[run_store.RunRow]:
    """The named runs in the order given, each once; between two and ten of them."""
    runs: list[run_store.RunRow] = []
    for ref in refs:
        run = resolve_run(store, ref)
        if all(r.id != run.id for r in runs):
            runs.append(run)
    if len(runs) < MIN_RUNS:
        raise InvalidInput(
            "pick at least two different runs to compare (for example /compare?runs=1,2)"
        )
    if len(runs) > MAX_RUNS:
        raise InvalidInput(f"compare at most {MAX_RUNS} runs at a time; {len(runs)} were given")
    return runs


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, bool) != isinstance(b, bool):
        return False  # true is not 1 here, though Python says so
    return bool(a == b)


_MISSING = object()


def table_rows(per_run: Sequence[Mapping[str, Any]]) -> list[CompareRow]:
    """One row per key; a cell differs when its value (or its absence) differs from run one."""
    keys = sorted({k for values in per_run for k in values})
    rows = []
    for key in keys:
        cells = [values.get(key, _MISSING) for values in per_run]
        first = cells[0]
        differ = tuple(
            i > 0 and ((c is _MISSING) != (first is _MISSING)
                       or (c is not _MISSING and not _same(first, c)))
            for i, c in enumerate(cells)
        )
        rows.append(CompareRow(key, tuple(None if c is _MISSING else c for c in cells), differ))
    return rows


def parallel_for(store: MetaStore, runs: Sequence[run_store.RunRow], metric: str | None,
                 root: str | None = "") -> tuple[str, str | None, list[str]]:
    """The parallel-coordinates drawing of the runs' varying params against ``metric``.

    Each line links to its run page under ``root``; ``None`` draws no links (a report).
    """
    ids = [r.id for r in runs]
    params = run_store.get_params(store, ids)
    metrics = latest_metrics(store, ids)
    keys = sorted({k for rid in ids for k in metrics[rid] if not k.startswith(SYS_PREFIX)})
    if metric is None or metric not in {k for rid in ids for k in metrics[rid]}:
        metric = keys[0] if keys else None
    rows = table_rows([params[rid] for rid in ids])
    axes = [row.key for row in rows if row.differs][:MAX_AXES]
    lines = [
        ParallelLine(
            label=f"run {r.number}" + (f" {r.name}" if r.name else ""),
            href=None if root is None else f"{root}/runs/{r.number}",
            params=params[r.id],
            value=metrics[r.id].get(metric) if metric else None,
        )
        for r in runs
    ]
    higher_better = metric is not None and not lower_is_better(metric)
    svg = parallel_svg(lines, axes, metric or "", higher_is_better=higher_better)
    return svg, metric, keys


def gather(store: MetaStore, project: Project, objects: ObjectStore,
           runs: Sequence[run_store.RunRow], metric: str | None = None,
           root: str | None = "") -> ComparePage:
    """Everything the compare page (and ``cairn report``) shows about ``runs``."""
    ids = [r.id for r in runs]
    params = run_store.get_params(store, ids)
    metrics = latest_metrics(store, ids)
    counts = {rid: point_counts(store, rid) for rid in ids}
    chart_keys = sorted({
        k for rid in ids for k, n in counts[rid].items()
        if n >= 2 and not k.startswith(SYS_PREFIX)
    })
    plain = [{k: v for k, v in metrics[rid].items() if not k.startswith(SYS_PREFIX)}
             for rid in ids]
    diffs = [diff_runs(store, runs[0], other, objects, project.root) for other in runs[1:]]
    svg, metric, metric_keys = ("", None, []) if len(runs) < MIN_RUNS else parallel_for(
        store, runs, metric, root)
    return ComparePage(
        runs=list(runs), colors=[PALETTE[i % len(PALETTE)] for i in range(len(runs))],
        params=table_rows([params[rid] for rid in ids]), metrics=table_rows(plain),
        chart_keys=chart_keys, diffs=diffs, metric=metric, metric_keys=metric_keys,
        parallel=svg,
    )


def compare_page(store: MetaStore, project: Project, objects: ObjectStore, refs: Sequence[str],
                 metric: str | None = None, root: str = "") -> ComparePage:
    return gather(store, project, objects, resolve_runs(store, refs), metric, root)
