"""Objects, the first half of the sync protocol: have/want, then streamed uploads and downloads.

Every route works within the project asked for (``?project=``), over the objects that project
references (``server/project_objects.py``): all projects share one store, but none learns
anything about another's content. ``POST /objects/missing`` answers which of up to 1,000 oids
the project lacks. ``PUT /objects/{oid}`` streams the body to disk while hashing it, even when
the store holds those bytes already (the upload proves possession), then records the
reference; a body whose hash is not ``oid`` is refused (400), one over the size limit too
(413), and a tree listing objects the project lacks (409), with nothing stored or recorded.
``GET /objects/{oid}`` streams the stored file; an object the project does not reference is
404, exactly as one the server lacks.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from cairn.errors import Conflict, Corrupt, InvalidInput, NotFound
from cairn.objects.hashing import hash_bytes
from cairn.objects.oid import check_oid, check_oids
from cairn.objects.tree import TREE_MAGIC, Tree
from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Caller, Reader, Writer, state_of
from cairn.server.project_objects import ProjectObjects, project_objects
from cairn.server.responses import json_reply
from cairn.server.uploads import receive_body

router = APIRouter(tags=["objects"], responses=ERROR_RESPONSES)

MISSING_BATCH = 1000
SMALL_BODY = 256 * 1024  # declared bodies up to this size are read in memory


class OidBatch(BaseModel):
    oids: list[str] = Field(max_length=MISSING_BATCH)


@router.post("/objects/missing", summary="Which of these objects the server lacks")
def missing(body: OidBatch, caller: Reader, request: Request) -> Response:
    check_oids(body.oids)
    refs = project_objects(state_of(request))
    return json_reply({"missing": refs.missing(caller.store.project_id, body.oids)})


def _check_tree_complete(refs: ProjectObjects, caller: Caller, oid: str, data: bytes) -> None:
    """Refuse a tree listing objects the project lacks: storing it would vouch for them.

    Checked against the project, not the shared store, or a tree listing guessed oids would
    tell by its acceptance which of them other projects hold.
    """
    if not data.startswith(TREE_MAGIC):
        return
    try:
        listed = [e.oid for e in Tree.from_bytes(data).entries]
    except Corrupt:
        return  # not a tree after all; stored as the plain blob it is
    absent = refs.missing(caller.store.project_id, listed)
    if absent:
        raise Conflict(f"tree {oid} lists {len(absent)} objects that project "
                       f"{caller.store.project_name!r} does not have (first: {absent[0]}); "
                       "send them before the tree; nothing was stored")


@router.put("/objects/{oid}", status_code=201, summary="Upload one object (raw body)")
async def put_object(oid: str, request: Request, caller: Writer) -> Response:
    check_oid(oid)
    state = state_of(request)
    refs = project_objects(state)
    project_id = caller.store.project_id
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= SMALL_BODY <= state.max_upload:
        # Most objects are small files: take them in memory, one write and no copy.
        data = await request.body()
        got = hash_bytes(data)
        if got != oid:
            raise InvalidInput(f"the uploaded bytes hash to {got}, not {oid}; nothing was stored")
        _check_tree_complete(refs, caller, oid, data)
        await run_in_threadpool(state.objects.put_bytes, data)
        await run_in_threadpool(refs.add, project_id, [oid])
        state.stats.add(len(data))
        return json_reply({"oid": oid, "size": len(data)}, status_code=201)
    received = await receive_body(request, state.upload_dir)
    try:
        if received.oid != oid:
            raise InvalidInput(f"the uploaded bytes hash to {received.oid}, not {oid}; "
                               "nothing was stored")
        with open(received.path, "rb") as fh:
            if fh.read(len(TREE_MAGIC)) == TREE_MAGIC:
                _check_tree_complete(refs, caller, oid, received.path.read_bytes())
        await run_in_threadpool(state.objects.put_file, received.path, oid)
        await run_in_threadpool(refs.add, project_id, [oid])
    finally:
        received.path.unlink(missing_ok=True)
    state.stats.add(received.size)
    return json_reply({"oid": oid, "size": received.size}, status_code=201)


@router.get("/objects/{oid}", summary="Download one object (streamed)")
def get_object(oid: str, caller: Reader, request: Request) -> Response:
    check_oid(oid)
    state = state_of(request)
    path = state.objects.path_for(oid)
    if not project_objects(state).has(caller.store.project_id, oid) or not path.is_file():
        raise NotFound(f"object {oid} is not in project {caller.store.project_name!r} on this "
                       "server")
    return FileResponse(path, media_type="application/octet-stream")


@router.head("/objects/{oid}", summary="Whether the server has an object")
def has_object(oid: str, caller: Reader, request: Request) -> Response:
    check_oid(oid)
    state = state_of(request)
    objects = state.objects
    if not project_objects(state).has(caller.store.project_id, oid):
        return Response(status_code=404)
    return Response(headers={"content-length": str(objects.size(oid))})
