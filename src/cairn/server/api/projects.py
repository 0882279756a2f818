"""Projects on this server, the caller, and the server itself."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cairn.server.api.documented import ERROR_RESPONSES
from cairn.server.auth import Reader, SignedIn, state_of
from cairn.server.responses import json_reply
from cairn.store import core
from cairn.store.accounts import role_of
from cairn.store.runs import count_runs

router = APIRouter(tags=["projects"], responses=ERROR_RESPONSES)


@router.get("/server", summary="What this server is and what it accepts (no token needed)")
def server_info(request: Request) -> Response:
    from importlib.metadata import PackageNotFoundError, version

    state = state_of(request)
    try:
        cairn_version = version("cairn")
    except PackageNotFoundError:
        cairn_version = "unknown"
    return json_reply({"name": "cairn", "version": cairn_version, "api": "v1",
                       "auth": state.auth, "max_upload": state.max_upload,
                       "default_project": state.default_project})


@router.get("/whoami", summary="The caller and their role in the project")
def whoami(caller: Reader) -> Response:
    return json_reply({"user": caller.user, "role": caller.role,
                       "project": caller.store.project_name})


@router.get("/projects", summary="Projects the caller may read")
def list_projects(user: SignedIn, request: Request) -> Response:
    state = state_of(request)
    out = []
    for pid, name, created in core.list_projects(state.db):
        role = "admin" if user is None else role_of(state.db, user, str(pid))
        if role is None:
            continue
        store = state.store(str(name))
        out.append({"name": name, "id": pid, "created_at": created, "role": role,
                    "runs": count_runs(store), "default": name == state.default_project})
    return json_reply({"projects": out})
