"""A run's stdout/stderr: the stored log once it has ended, the live file while it runs.

``?offset=N`` answers only the bytes from ``N`` on, so a page can follow a running run by
asking again from the size it already has (``X-Cairn-Log-Size``).
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from cairn.errors import NotFound
from cairn.history.logs import live_log_path
from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Reader, state_of
from cairn.store.artifacts import list_artifacts
from cairn.store.resolve import resolve_run

router = APIRouter(tags=["logs"], responses=ERROR_RESPONSES)

MAX_CHUNK = 16 * 1024 * 1024


@router.get("/runs/{ref}/logs", summary="A run's output (text), from an offset")
def get_logs(
    ref: str, caller: Reader, request: Request,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    state = state_of(request)
    run = resolve_run(caller.store, ref)
    stored = list_artifacts(caller.store, run.id, "log")
    path = state.objects.path_for(stored[0].oid) if stored else live_log_path(state.project,
                                                                              run.id)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            fh.seek(min(offset, size))
            data = fh.read(MAX_CHUNK)
    except FileNotFoundError:
        raise NotFound(f"run {run.number} has no output on this server") from None
    headers = {"X-Cairn-Log-Size": str(size), "X-Cairn-Run-Status": run.status}
    return Response(data, media_type="text/plain; charset=utf-8", headers=headers)
