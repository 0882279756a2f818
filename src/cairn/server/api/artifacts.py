"""A run's files: list, download (streamed), and upload from remote SDK clients.

A path names an artifact, or a file inside a folder artifact (``model/weights.bin``). Paths
that are absolute or contain ``..`` are refused with 400: uploads become objects attached
under a label, so nothing is ever written to a path a client chose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response

from cairn.errors import Conflict, NotFound
from cairn.objects.tree import read_tree
from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Reader, Writer, state_of
from cairn.server.responses import json_reply
from cairn.server.uploads import receive_body, safe_rel_path
from cairn.store.accounts import audit
from cairn.store.artifacts import KINDS, ArtifactRow, add_artifacts, list_artifacts
from cairn.store.core import MetaStore
from cairn.store.resolve import resolve_run

router = APIRouter(tags=["artifacts"], responses=ERROR_RESPONSES)

Kind = Literal["artifact", "input", "output", "model", "log", "code"]
UploadKind = Literal["artifact", "model", "output"]


def _row_json(a: ArtifactRow) -> dict[str, object]:
    return {"kind": a.kind, "path": a.path, "oid": a.oid, "size": a.size, "is_tree": a.is_tree}


@router.get("/runs/{ref}/artifacts", summary="A run's artifacts, inputs, outputs and logs")
def list_run_artifacts(
    ref: str, caller: Reader, kind: Annotated[Kind | None, Query()] = None,
) -> Response:
    run = resolve_run(caller.store, ref)
    return json_reply({"artifacts": [_row_json(a) for a in
                                     list_artifacts(caller.store, run.id, kind)]})


@router.get("/runs/{ref}/artifacts/{path:path}", summary="Download a file (or list a folder)")
def download(
    ref: str, path: str, caller: Reader, request: Request,
    kind: Annotated[Kind | None, Query()] = None,
) -> Response:
    clean = safe_rel_path(path)
    run = resolve_run(caller.store, ref)
    objects = state_of(request).objects
    rows = list_artifacts(caller.store, run.id, kind)
    for a in sorted(rows, key=lambda r: KINDS.index(r.kind)):
        if a.path == clean:
            if a.is_tree:
                tree = read_tree(objects, a.oid)
                return json_reply({"path": a.path, "kind": a.kind, "files": [
                    {"path": e.path, "oid": e.oid, "size": e.size} for e in tree.entries]})
            return _file(objects.path_for(a.oid), a.path)
        if a.is_tree and clean.startswith(a.path.rstrip("/") + "/"):
            inner = clean[len(a.path.rstrip("/")) + 1:]
            for e in read_tree(objects, a.oid).entries:
                if e.path == inner and not e.is_link:
                    return _file(objects.path_for(e.oid), clean)
    raise NotFound(f"run {run.number} has no file {clean!r}")


def _file(path: Path, name: str) -> Response:
    if not path.is_file():
        raise NotFound(f"the bytes of {name!r} are not on this server")
    return FileResponse(path, media_type="application/octet-stream",
                        filename=name.rsplit("/", 1)[-1])


@router.put("/runs/{ref}/artifacts/{path:path}", status_code=201,
            summary="Attach a file to a run (raw body)")
async def upload(
    ref: str, path: str, caller: Writer, request: Request,
    kind: Annotated[UploadKind, Query()] = "artifact",
) -> Response:
    clean = safe_rel_path(path)
    store = caller.store
    run = await run_in_threadpool(resolve_run, store, ref)
    if run.status != "running" and kind != "artifact":
        raise Conflict(f"run {run.number} is {run.status}; its {kind}s cannot change")
    state = state_of(request)
    received = await receive_body(request, state.upload_dir)
    try:
        await run_in_threadpool(state.objects.put_file, received.path, received.oid)
    finally:
        received.path.unlink(missing_ok=True)
    row = ArtifactRow(run.id, kind, clean, received.oid, received.size, False)
    await run_in_threadpool(_attach, store, row, caller.user)
    return json_reply(_row_json(row), status_code=201)


def _attach(store: MetaStore, row: ArtifactRow, user: str) -> None:
    """List the uploaded file on its run and audit it, in one transaction."""
    with store.db.write() as w:
        add_artifacts(w, [row])
        audit(w, user, "artifact.put", f"{row.run_id} {row.kind}:{row.path}")
