"""Listing runs: filter and sort compiled to SQL, then params and metrics in two queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cairn._util.timefmt import iso_ms
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.metrics import latest_metrics


@dataclass(frozen=True)
class RunSummary:
    run: run_store.RunRow
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def commit(self) -> str | None:
        code = self.run.record.code
        return code.commit if code is not None and code.commit else None

    def to_json(self) -> dict[str, Any]:
        r = self.run
        return {
            "id": r.id, "number": r.number, "name": r.name, "status": r.status,
            "started_at": iso_ms(r.started_at), "ended_at": iso_ms(r.ended_at),
            "duration_s": r.duration_s, "exit_code": r.exit_code, "commit": self.commit,
            "verdict": r.verdict, "params": self.params, "metrics": self.metrics,
            "tags": self.tags,
        }


def list_runs(
    store: MetaStore, *, filter_expr: str | None = None, sort: str | None = None,
    limit: int | None = 50, offset: int = 0,
) -> tuple[list[RunSummary], int]:
    """Matching runs (newest first unless sorted) and how many match in all."""
    from cairn.store.query import compile_filter, compile_sort

    where, where_params = compile_filter(filter_expr or "")
    order, order_params = compile_sort(sort) if sort else ("r.number DESC", [])
    rows = run_store.list_runs(
        store, where=where, where_params=where_params, order_by=order,
        order_params=order_params, limit=limit, offset=offset,
    )
    total = len(rows) if limit is None or (len(rows) < limit and offset == 0) else (
        run_store.count_runs(store, where=where, where_params=where_params)
    )
    ids = [r.id for r in rows]
    params = run_store.get_params(store, ids)
    metrics = latest_metrics(store, ids)
    tags = run_store.get_tags(store, ids)
    return [
        RunSummary(run=r, params=params[r.id], metrics=metrics[r.id], tags=tags[r.id])
        for r in rows
    ], total


def varying_keys(dicts: list[dict[str, Any]]) -> list[str]:
    """Keys whose values differ across the listed runs (or that only some runs have)."""
    if len(dicts) <= 1:
        return sorted({k for d in dicts for k in d})
    keys = sorted({k for d in dicts for k in d})
    missing = object()
    return [k for k in keys if len({repr(d.get(k, missing)) for d in dicts}) > 1]
