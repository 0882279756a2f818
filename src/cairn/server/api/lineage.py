"""Where a run came from and what came of it: parent, fork source, reproductions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Reader
from cairn.server.responses import json_reply
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.resolve import resolve_run

router = APIRouter(tags=["lineage"], responses=ERROR_RESPONSES)


def _brief(store: MetaStore, run_id: str) -> dict[str, Any]:
    run = run_store.find_run(store, run_id)
    if run is None:  # a run that lives elsewhere (not pulled here)
        return {"id": run_id, "number": None, "name": None, "status": None, "verdict": None}
    return {"id": run_id, "number": run.number, "name": run.name, "status": run.status,
            "verdict": run.verdict}


@router.get("/runs/{ref}/lineage", summary="A run's parent, fork source, reproductions, children")
def get_lineage(ref: str, caller: Reader) -> Response:
    store = caller.store
    run = resolve_run(store, ref)
    links = run_store.get_lineage(store, run.id)
    return json_reply({
        "run": _brief(store, run.id),
        **{rel: _brief(store, target) if target else None for rel, target in links.items()},
        "children": [{"relation": rel, **_brief(store, rid)}
                     for rel, rid in run_store.get_children(store, run.id)],
    })
