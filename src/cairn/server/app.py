"""The cairn server: one FastAPI application over one project's store.

``/api/v1`` is the REST API (OpenAPI at ``/api/v1/openapi.json``), the sync protocol is part
of it, and the web UI (``cairn.server.ui``, when installed) is served at ``/``. Handlers call
the same store and history functions as the CLI, so both always agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import import_module
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from cairn._http.guard import DEFAULT_BODY_LIMIT, HostRule, HttpGuard, Scope
from cairn._http.launch import AppSpec
from cairn.errors import CairnError
from cairn.project import Project
from cairn.server.api.sync import MAX_BUNDLE
from cairn.server.auth import identify, reader
from cairn.server.errors import install_error_handlers
from cairn.server.responses import json_reply
from cairn.server.state import DEFAULT_MAX_UPLOAD, ServerState, project_at
from cairn.settings import load_settings

API_PREFIX = "/api/v1"
# Matched in this order: the sync traffic (thousands of small uploads) first.
_API_MODULES = ("objects", "sync", "runs", "metrics", "artifacts", "logs", "lineage", "projects")


# The sign-in form: posted by a browser without a token, it carries its own CSRF token.
FORM_PATHS = ("/login", "/logout")
FORM_LIMIT = 64 * 1024
_UPLOAD_PATH = re.compile(rf"^{API_PREFIX}/(objects/[^/]+|runs/[^/]+/artifacts/.+)$")
_BUNDLE_PATH = re.compile(rf"^{API_PREFIX}/runs/[^/]+/bundle$")


def _max_upload(project: Project, given: int | None) -> int:
    if given is not None:
        return given
    configured = load_settings(project.store_dir).server_max_upload
    return configured if configured is not None else DEFAULT_MAX_UPLOAD


def create_app(
    project_or_store_dir: Project | str | os.PathLike[str],
    *,
    auth: bool = True,
    max_upload: int | None = None,
    hosts: HostRule | None = None,
) -> FastAPI:
    """The application for one project (its root folder, its ``.cairn`` folder, or a Project).

    ``auth=False`` answers every request as the local user with the admin role: only for a
    server that listens on localhost. ``max_upload`` (bytes per object) defaults to
    ``[server] max_upload`` in the project's config, else 5 GiB. ``hosts`` names the
    ``Host`` values answered (default: any except a foreign name on a loopback connection).
    """
    project = project_at(project_or_store_dir)
    state = ServerState(project, auth=auth, max_upload=_max_upload(project, max_upload))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="cairn", summary="Runs, metrics, artifacts and the sync protocol of a cairn store.",
        version="1", openapi_url=f"{API_PREFIX}/openapi.json", docs_url=None, redoc_url=None,
        lifespan=lifespan,
    )
    app.state.cairn = state
    # What the web UI's handlers read (its own contract with the app factory).
    app.state.store = state.store()
    app.state.project = project
    app.state.objects = state.objects
    install_error_handlers(app)
    _install_guard(app, state, hosts)
    api = APIRouter(prefix=API_PREFIX)
    for name in _API_MODULES:
        api.include_router(import_module(f"cairn.server.api.{name}").router)
    app.include_router(api)
    from cairn.server.session import router as session_router

    app.include_router(session_router)
    if not _mount_ui(app):
        @app.get("/", include_in_schema=False)
        def index() -> Response:
            return json_reply({"name": "cairn", "api": API_PREFIX,
                               "openapi": f"{API_PREFIX}/openapi.json"})
    return app


def _mount_ui(app: FastAPI) -> bool:
    """Serve the web UI at ``/`` (pages need the reader role); False when it is not installed."""
    try:
        ui = import_module("cairn.server.ui.routes")
    except ModuleNotFoundError as exc:
        if exc.name in ("cairn.server.ui", "cairn.server.ui.routes"):
            return False
        raise
    app.include_router(ui.router, dependencies=[Depends(reader)])
    app.include_router(import_module("cairn.server.ui.models_routes").router,
                       dependencies=[Depends(reader)])
    ui.mount_static(app)
    return True


def _install_guard(app: FastAPI, state: ServerState, hosts: HostRule | None) -> None:
    """Check hosts, origins, tokens and body sizes before FastAPI reads a body."""

    def body_limit(method: str, path: str) -> int:
        if method == "PUT" and _UPLOAD_PATH.match(path):
            return state.max_upload  # streamed to disk by ``uploads.receive_body``
        if method == "PUT" and _BUNDLE_PATH.match(path):
            return MAX_BUNDLE
        return FORM_LIMIT if path in FORM_PATHS else DEFAULT_BODY_LIMIT

    async def authenticate(scope: Scope) -> CairnError | None:
        if not state.auth:
            return None
        try:
            await anyio.to_thread.run_sync(identify, Request(scope))
        except CairnError as exc:
            return exc
        return None

    app.add_middleware(HttpGuard, hosts=hosts, body_limit=body_limit,
                       authenticate=authenticate, form_paths=FORM_PATHS)


def server_spec(project: Project, *, auth: bool, hosts: HostRule) -> AppSpec:
    """What ``cairn server`` runs, in each of its workers (see ``_http.launch``)."""
    return AppSpec(f"{__name__}:app_from_config", hosts=hosts, config={
        "root": str(project.root), "store_dir": str(project.store_dir), "auth": auth})


def app_from_config(config: dict[str, Any], hosts: HostRule) -> FastAPI:
    """The application of ``server_spec``."""
    project = Project(root=Path(config["root"]), store_dir=Path(config["store_dir"]))
    return create_app(project, auth=bool(config["auth"]), hosts=hosts)
