"""Run bundles, the last step of the sync protocol.

``PUT /runs/{id}/bundle`` comes after the objects: it is refused (409) while any object the
run refers to is missing, so an interrupted push leaves no run behind, and importing the same
bundle again changes nothing. The pusher is recorded in the audit log; the run keeps the
author it was created by.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from cairn.errors import Conflict, InvalidInput, NotFound
from cairn.remote.bundle import (
    direct_oids,
    export_run,
    import_bundle,
    split_referenced,
    validate_bundle,
)
from cairn.server.accounts import record_audit
from cairn.server.auth import Caller, Reader, Writer, state_of
from cairn.server.errors import TooLarge
from cairn.server.responses import json_reply
from cairn.store.runs import get_run

router = APIRouter(tags=["sync"])

MAX_BUNDLE = 256 * 1024 * 1024


@router.get("/runs/{run_id}/bundle", summary="A run as a bundle, for pulling")
def get_bundle(run_id: str, caller: Reader, request: Request) -> Response:
    store = caller.store
    row = store.db.query_one("SELECT project_id FROM runs WHERE id = ?", (run_id,))
    if row is None or row[0] != store.project_id:
        raise NotFound(f"run {run_id} is not in project {store.project_name!r}")
    return json_reply(export_run(store, state_of(request).objects, get_run(store, run_id)).doc)


@router.put("/runs/{run_id}/bundle", summary="Store a pushed run (after its objects)")
async def put_bundle(run_id: str, caller: Writer, request: Request) -> Response:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BUNDLE:
        raise TooLarge(f"the bundle is larger than this server takes ({MAX_BUNDLE} bytes)")
    try:
        doc = json.loads(await request.body())
    except ValueError as exc:
        raise InvalidInput(f"the bundle is not JSON: {exc}") from None
    return await run_in_threadpool(_store_bundle, run_id, doc, caller, request)


def _store_bundle(run_id: str, raw: Any, caller: Caller, request: Request) -> Response:
    doc = validate_bundle(raw)
    if doc["run"]["id"] != run_id:
        raise InvalidInput(f"the bundle is for run {doc['run']['id']}, not {run_id}")
    objects = state_of(request).objects
    absent = objects.missing(direct_oids(doc))
    if not absent:
        blobs, _trees = split_referenced(doc, objects)
        absent = objects.missing(blobs)
    if absent:
        raise Conflict(f"{len(absent)} objects of run {run_id} are not on the server yet "
                       f"(first: {absent[0]}); upload them before the run")
    imported = import_bundle(caller.store, objects, doc)
    record_audit(caller.store.db, caller.user, "run.push", run_id)
    run = imported.run
    return json_reply({"id": run.id, "number": run.number, "created": imported.created},
                      status_code=201 if imported.created else 200)
