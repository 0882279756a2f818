"""Objects, the first half of the sync protocol: have/want, then streamed uploads and downloads.

``POST /objects/missing`` answers which of up to 1,000 oids the server lacks. ``PUT
/objects/{oid}`` streams the body to disk while hashing it; a body whose hash is not ``oid``
is refused (400) and one over the size limit too (413), with nothing stored either way.
``GET /objects/{oid}`` streams the stored file.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field

from cairn.errors import InvalidInput, NotFound
from cairn.objects.hashing import hash_bytes
from cairn.objects.oid import check_oid, check_oids
from cairn.server.auth import Reader, Writer, state_of
from cairn.server.responses import json_reply
from cairn.server.uploads import receive_body

router = APIRouter(tags=["objects"])

MISSING_BATCH = 1000
SMALL_BODY = 256 * 1024  # declared bodies up to this size are read in memory


class OidBatch(BaseModel):
    oids: list[str] = Field(max_length=MISSING_BATCH)


@router.post("/objects/missing", summary="Which of these objects the server lacks")
def missing(body: OidBatch, caller: Reader, request: Request) -> Response:
    check_oids(body.oids)
    return json_reply({"missing": state_of(request).objects.missing(body.oids)})


@router.put("/objects/{oid}", status_code=201, summary="Upload one object (raw body)")
async def put_object(oid: str, request: Request, caller: Writer) -> Response:
    check_oid(oid)
    state = state_of(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) <= SMALL_BODY <= state.max_upload:
        # Most objects are small files: take them in memory, one write and no copy.
        data = await request.body()
        got = hash_bytes(data)
        if got != oid:
            raise InvalidInput(f"the uploaded bytes hash to {got}, not {oid}; nothing was stored")
        await run_in_threadpool(state.objects.put_bytes, data)
        state.stats.add(len(data))
        return json_reply({"oid": oid, "size": len(data)}, status_code=201)
    received = await receive_body(request, state.upload_dir, state.max_upload)
    try:
        if received.oid != oid:
            raise InvalidInput(f"the uploaded bytes hash to {received.oid}, not {oid}; "
                               "nothing was stored")
        await run_in_threadpool(state.objects.put_file, received.path, oid)
    finally:
        received.path.unlink(missing_ok=True)
    state.stats.add(received.size)
    return json_reply({"oid": oid, "size": received.size}, status_code=201)


@router.get("/objects/{oid}", summary="Download one object (streamed)")
def get_object(oid: str, caller: Reader, request: Request) -> Response:
    check_oid(oid)
    path = state_of(request).objects.path_for(oid)
    if not path.is_file():
        raise NotFound(f"object {oid} is not on this server")
    return FileResponse(path, media_type="application/octet-stream")


@router.head("/objects/{oid}", summary="Whether the server has an object")
def has_object(oid: str, caller: Reader, request: Request) -> Response:
    check_oid(oid)
    objects = state_of(request).objects
    if not objects.has(oid):
        return Response(status_code=404)
    return Response(headers={"content-length": str(objects.size(oid))})
