"""Metric history: latest values, one series (downsampled for charts), batch logging.

A batch is written in one transaction together with the run's heartbeat and an audit entry,
so concurrent clients each get all of their points in or none; SQLite serialises the
writers (``BEGIN IMMEDIATE`` with a long busy timeout), PostgreSQL runs them side by side.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cairn._util.ids import now_ms
from cairn.errors import Conflict, NotFound
from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Reader, Writer
from cairn.server.bodies import CheckedRoute
from cairn.server.limits import settings_of
from cairn.server.responses import json_reply
from cairn.store.accounts import audit
from cairn.store.metrics import latest_metrics, point_counts, read_series, write_series
from cairn.store.resolve import resolve_run
from cairn.store.runs import heartbeat
from cairn.store.series import Series

router = APIRouter(tags=["metrics"], route_class=CheckedRoute,
                   responses=ERROR_RESPONSES)

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1  # steps and times are stored as int64
_SPECIAL = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "-inf": -math.inf}


class MetricPoint(BaseModel):
    key: str = Field(min_length=1, max_length=250)
    value: float | Annotated[str, Field(pattern=r"^(?i:nan|[+-]?inf)$")] | None
    step: int = Field(0, ge=_INT64_MIN, le=_INT64_MAX)
    timestamp: int | None = Field(None, ge=_INT64_MIN, le=_INT64_MAX,
                                  description="ms since the epoch; default: now")


class MetricBatch(BaseModel):
    metrics: list[MetricPoint] = Field(max_length=100_000)


def _value(raw: float | str | None) -> float:
    if raw is None:
        return math.nan
    if isinstance(raw, str):
        return _SPECIAL[raw.lower()]
    return float(raw)


@router.get("/runs/{ref}/metrics", summary="Latest value and point count of every metric")
def list_metrics(ref: str, caller: Reader) -> Response:
    run = resolve_run(caller.store, ref)
    latest = latest_metrics(caller.store, [run.id])[run.id]
    counts = point_counts(caller.store, run.id)
    return json_reply({"metrics": [
        {"key": key, "value": value, "points": counts.get(key, 0)}
        for key, value in latest.items()
    ]})


@router.get("/runs/{ref}/metrics/{key:path}", summary="One metric's history, downsampled")
def get_series(
    ref: str, key: str, caller: Reader,
    max_points: Annotated[int | None, Query(ge=4, le=1_000_000,
                                            description="keep shape, min and max")] = None,
) -> Response:
    run = resolve_run(caller.store, ref)
    series = read_series(caller.store, run.id, key)
    if len(series) == 0:
        raise NotFound(f"run {run.number} has no metric {key!r}")
    from cairn.history.downsample import downsample

    total = len(series)
    if max_points is not None:
        series = downsample(series, max_points)
    return json_reply({
        "key": key, "run": run.id, "total_points": total, "downsampled": len(series) < total,
        "steps": series.steps.tolist(), "values": series.values.tolist(),
        "times": series.times.tolist(),
    })


@router.post("/runs/{ref}/metrics", summary="Log a batch of metric points on a running run")
def log_metrics(ref: str, body: MetricBatch, caller: Writer, request: Request) -> Response:
    store = caller.store
    run = resolve_run(store, ref)
    if run.status != "running":
        raise Conflict(f"run {run.number} is {run.status}; metrics go to running runs only")
    series: dict[str, Series] = {}
    now = now_ms()
    for point in body.metrics:
        s = series.get(point.key)
        if s is None:
            s = series[point.key] = Series.empty()
        s.steps.append(point.step)
        s.values.append(_value(point.value))
        s.times.append(point.timestamp if point.timestamp is not None else now)
    with store.db.write() as w:
        write_series(w, run.id, series, max_keys=settings_of(request).max_metric_keys)
        heartbeat(w, [run.id], at=now)
        audit(w, caller.user, "metrics.log", f"{run.id} {len(body.metrics)} points")
    return json_reply({"logged": len(body.metrics)})
