"""Runs: list (filter, sort, cursor pages), resolve, get, create, update, params and tags.

Listing answers from the same filter language and SQL as ``cairn ls``. Pages are cut by a
cursor: for the default newest-first order it is the last run number seen (``number < N``,
an index range), so any page of 100,000 runs costs the same; for other orders it is an
offset. The cursor is opaque to clients and tied to the filter and sort it was made for.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from cairn.errors import Conflict, InvalidInput
from cairn.history.describe import describe_run
from cairn.history.listing import RunSummary
from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Reader, Writer, state_of
from cairn.server.bodies import CheckedRoute
from cairn.server.limits import settings_of
from cairn.server.responses import json_reply
from cairn.store import runs as run_store
from cairn.store.accounts import audit
from cairn.store.core import MetaStore
from cairn.store.limits import check_key_budget
from cairn.store.metrics import latest_metrics
from cairn.store.record import RunRecord
from cairn.store.resolve import resolve_run

router = APIRouter(tags=["runs"], route_class=CheckedRoute,
                   responses=ERROR_RESPONSES)

Status = Literal["running", "finished", "failed", "killed", "crashed"]


class RunCreate(BaseModel):
    name: str | None = Field(None, max_length=200)
    message: str | None = None
    status: Status = "running"
    command: list[str] | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    lineage: dict[Literal["parent", "forked_from", "reproduces"], str] = Field(
        default_factory=dict)


class RunPatch(BaseModel):
    status: Status | None = None
    name: str | None = Field(None, max_length=200)
    message: str | None = None
    tags: dict[str, str] | None = None
    exit_code: int | None = Field(None, ge=-(2**31), le=2**31 - 1)


class ParamsBody(BaseModel):
    params: dict[str, Any]


class TagsBody(BaseModel):
    tags: dict[str, str]


# -- cursors ----------------------------------------------------------------------------------
def _encode_cursor(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, filter_expr: str, sort: str) -> dict[str, Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (ValueError, binascii.Error, RecursionError):
        data = None
    # A client may send any text as a cursor: only the shape this server writes is read.
    position = {k: v for k, v in data.items() if k in ("n", "o")} if isinstance(
        data, dict) else {}
    if (not isinstance(data, dict) or len(position) != 1
            or not all(type(v) is int and 0 <= v < 2**62 for v in position.values())):
        raise InvalidInput("the cursor is not one this server gave out")
    if data.get("f") != filter_expr or data.get("s") != sort:
        raise InvalidInput("the cursor belongs to another filter or sort; start from the "
                           "first page")
    return data


def _within(what: str, count: int, limit: int) -> None:
    if count > limit:
        raise InvalidInput(f"a run may hold {limit:,} {what}, not {count:,}; nothing was written")


def summaries(store: MetaStore, rows: list[run_store.RunRow]) -> list[RunSummary]:
    ids = [r.id for r in rows]
    params = run_store.get_params(store, ids)
    metrics = latest_metrics(store, ids)
    tags = run_store.get_tags(store, ids)
    return [RunSummary(run=r, params=params[r.id], metrics=metrics[r.id], tags=tags[r.id])
            for r in rows]


@router.get("/runs", summary="List runs (filter, sort, cursor pagination)")
def list_runs(
    caller: Reader,
    filter_expr: Annotated[str, Query(alias="filter", description="e.g. metrics.acc > 0.9")] = "",
    sort: Annotated[str, Query(description="started_at, metrics.K, -params.K, …")] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Response:
    from cairn.store.query import compile_filter, compile_sort

    store = caller.store
    where, params = compile_filter(filter_expr)
    state = _decode_cursor(cursor, filter_expr, sort) if cursor else {}
    offset = 0
    if sort.strip():
        order, order_params = compile_sort(sort)
        offset = int(state.get("o", 0))
    else:
        order, order_params = "r.number DESC", []
        if "n" in state:
            where, params = f"({where}) AND r.number < ?", [*params, int(state["n"])]
    rows = run_store.list_runs(store, where=where, where_params=params, order_by=order,
                               order_params=order_params, limit=limit + 1, offset=offset)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more:
        position: dict[str, Any] = {"o": offset + limit} if sort.strip() else {
            "n": rows[-1].number}
        next_cursor = _encode_cursor({"f": filter_expr, "s": sort, **position})
    return json_reply({"runs": [s.to_json() for s in summaries(store, rows)],
                       "next_cursor": next_cursor})


@router.get("/runs/resolve", summary="Find the run a reference names (number, prefix, name, last)")
def resolve(caller: Reader, ref: str) -> Response:
    run = resolve_run(caller.store, ref)
    return json_reply({"id": run.id, "number": run.number, "name": run.name,
                       "status": run.status})


@router.get("/runs/{ref}", summary="Everything recorded about a run (as cairn show --json)")
def get_run(ref: str, caller: Reader, request: Request) -> Response:
    run = resolve_run(caller.store, ref)
    return json_reply(describe_run(caller.store, run, state_of(request).objects))


@router.post("/runs", status_code=201, summary="Create a run (for remote SDK clients)")
def create_run(body: RunCreate, caller: Writer, request: Request) -> Response:
    store = caller.store
    limits = settings_of(request)
    _within("params", len(body.params), limits.max_params)
    _within("tags", len(body.tags), limits.max_tags)
    with store.db.write() as w:
        run = run_store.create_run(
            w, store.project_id, name=body.name, status=body.status, message=body.message,
            command=body.command, params=body.params, tags=body.tags, created_by=caller.user,
            record=RunRecord(source="api"), lineage={str(k): v for k, v in body.lineage.items()},
        )
        audit(w, caller.user, "run.create", run.id)
    return json_reply(describe_run(store, run, state_of(request).objects), status_code=201)


@router.patch("/runs/{ref}", summary="Change a run's status, name, message or tags")
def update_run(ref: str, body: RunPatch, caller: Writer, request: Request) -> Response:
    store = caller.store
    run = resolve_run(store, ref)
    ending = body.status is not None and body.status != run.status
    if ending and run.status != "running":
        raise Conflict(f"run {run.number} is {run.status}; its status cannot change again")
    if ending and body.status == "running":
        raise InvalidInput("a run can only be set running when it is created")
    with store.db.write() as w:
        if ending and not run_store.finish_run(w, run.id, str(body.status),
                                               exit_code=body.exit_code):
            ended = run_store.get_run(store, run.id)  # by another writer since it was read
            raise Conflict(f"run {run.number} is {ended.status}; its status cannot change again")
        fields = {k: v for k, v in (("name", body.name), ("message", body.message))
                  if v is not None}
        run_store.set_run_fields(w, run.id, **fields)
        if body.tags:
            check_key_budget(w, "tags", run.id, list(body.tags), settings_of(request).max_tags)
            run_store.set_tags(w, run.id, body.tags)
        changed = body.model_dump(exclude_none=True)
        audit(w, caller.user, "run.update", f"{run.id} {json.dumps(sorted(changed))}")
    return json_reply(describe_run(store, run_store.get_run(store, run.id),
                                   state_of(request).objects))


@router.post("/runs/{ref}/heartbeat", status_code=204, summary="Say a remote run is alive")
def heartbeat(ref: str, caller: Writer) -> Response:
    run = resolve_run(caller.store, ref)
    with caller.store.db.write() as w:
        run_store.heartbeat(w, [run.id])
    return Response(status_code=204)


@router.get("/runs/{ref}/params", summary="A run's params")
def get_params(ref: str, caller: Reader) -> Response:
    run = resolve_run(caller.store, ref)
    return json_reply({"params": run_store.get_params(caller.store, [run.id])[run.id]})


@router.post("/runs/{ref}/params", summary="Log params on a running run")
def log_params(ref: str, body: ParamsBody, caller: Writer, request: Request) -> Response:
    store = caller.store
    run = resolve_run(store, ref)
    with store.db.write() as w:
        check_key_budget(w, "params", run.id, list(body.params), settings_of(request).max_params)
        run_store.log_params(w, run.id, body.params)
        audit(w, caller.user, "params.log", f"{run.id} {json.dumps(sorted(body.params))}")
    return json_reply({"params": run_store.get_params(store, [run.id])[run.id]})


@router.get("/runs/{ref}/tags", summary="A run's tags")
def get_tags(ref: str, caller: Reader) -> Response:
    run = resolve_run(caller.store, ref)
    return json_reply({"tags": run_store.get_tags(caller.store, [run.id])[run.id]})


@router.post("/runs/{ref}/tags", summary="Set tags (they may change after a run ends)")
def set_tags(ref: str, body: TagsBody, caller: Writer, request: Request) -> Response:
    store = caller.store
    run = resolve_run(store, ref)
    with store.db.write() as w:
        check_key_budget(w, "tags", run.id, list(body.tags), settings_of(request).max_tags)
        run_store.set_tags(w, run.id, body.tags)
        audit(w, caller.user, "tags.set", f"{run.id} {json.dumps(sorted(body.tags))}")
    return json_reply({"tags": run_store.get_tags(store, [run.id])[run.id]})
