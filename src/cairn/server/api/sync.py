"""Run bundles, the last step of the sync protocol.

``PUT /runs/{id}/bundle`` comes after the objects: it is refused (409) while any object the
run refers to is missing from the project (``server/project_objects.py``), so an interrupted
push leaves no run behind. A finished run never changes: the same bundle again is answered
200 with ``"unchanged": true`` and nothing written, a different one 409 naming what differs.
A run still running is updated by its creator's later pushes. The run's ``created_by`` is the
account that pushed it first (the server's local user without authentication), never what
the bundle claims; every push that changes a run is recorded in the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from cairn.errors import Conflict, InvalidInput, NotFound
from cairn.remote.bundle import (
    direct_oids,
    existing_copy,
    export_run,
    import_bundle,
    split_referenced,
    validate_bundle,
)
from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Caller, Reader, Writer, state_of
from cairn.server.bodies import decode_json
from cairn.server.project_objects import project_objects
from cairn.server.responses import json_reply
from cairn.store.accounts import audit
from cairn.store.runs import get_run, project_of_run

router = APIRouter(tags=["sync"], responses=ERROR_RESPONSES)

MAX_BUNDLE = 256 * 1024 * 1024  # the HTTP guard's limit for a pushed bundle (see ``app``)


@router.get("/runs/{run_id}/bundle", summary="A run as a bundle, for pulling")
def get_bundle(run_id: str, caller: Reader, request: Request) -> Response:
    store = caller.store
    if project_of_run(store, run_id) != store.project_id:
        raise NotFound(f"run {run_id} is not in project {store.project_name!r}")
    state = state_of(request)
    doc = export_run(store, state.objects, get_run(store, run_id)).doc
    # Whoever reads the run may read what it refers to, its packed metrics included.
    project_objects(state).add_run(store.project_id, doc)
    return json_reply(doc)


@router.put("/runs/{run_id}/bundle", summary="Store a pushed run (after its objects)")
async def put_bundle(run_id: str, caller: Writer, request: Request) -> Response:
    body = await request.body()
    return await run_in_threadpool(_store_bundle, run_id, body, caller, request)


def _store_bundle(run_id: str, raw: bytes, caller: Caller, request: Request) -> Response:
    """Decode (off the event loop: a bundle may be many MiB), check and store one bundle."""
    doc = validate_bundle(decode_json(raw))
    if doc["run"]["id"] != run_id:
        raise InvalidInput(f"the bundle is for run {doc['run']['id']}, not {run_id}")
    store = caller.store
    kept = existing_copy(store, doc, author=caller.user)  # refused here if it may not change
    if kept is None:
        state = state_of(request)
        refs = project_objects(state)
        absent = refs.missing(store.project_id, direct_oids(doc))
        if not absent:  # the trees are the project's: what they list must be too
            blobs, _trees = split_referenced(doc, state.objects)
            absent = refs.missing(store.project_id, blobs)
        if absent:
            raise Conflict(f"{len(absent)} objects of run {run_id} are not in project "
                           f"{store.project_name!r} yet (first: {absent[0]}); upload them "
                           "before the run")
        with store.db.write() as w:
            kept = import_bundle(w, store, state.objects, doc, author=caller.user)
            if kept.changed:
                audit(w, caller.user, "run.push", run_id)
    run = kept.run
    body: dict[str, Any] = {"id": run.id, "number": run.number, "created": kept.created}
    if not kept.changed:
        body["unchanged"] = True
        body["message"] = (f"run {run.number} is already here with the same content; "
                           "nothing was written")
    return json_reply(body, status_code=201 if kept.created else 200)
