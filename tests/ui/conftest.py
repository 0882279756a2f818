"""Fixtures for the web UI tests: a seeded project and a small app serving the UI router."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from cairn._http.guard import HttpGuard
from cairn.objects.local import LocalObjectStore
from cairn.project import Project
from cairn.store.core import MetaStore
from tests.ui.seed import Seeded, seed_project


def make_app(project: Project, store: MetaStore) -> FastAPI:
    """What the server's app factory does for the UI: state, router, static files."""
    from cairn.server.ui.routes import mount_static, router

    app = FastAPI()
    app.state.project = project
    app.state.store = store
    app.state.objects = LocalObjectStore(project.objects_dir)
    app.include_router(router)
    mount_static(app)
    app.add_middleware(HttpGuard)  # the servers' headers, Content-Security-Policy included
    return app


def fetch(app: FastAPI, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """GET ``url`` from ``app`` in process (no socket), the way a browser would ask."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cairn.test") as client:
            return await client.get(url, headers=headers or {})
    return asyncio.run(go())


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data = seed_project(tmp_path_factory.mktemp("ui") / "proj")
    yield data
    data.store.close()


@pytest.fixture(scope="module")
def app(seeded: Seeded) -> FastAPI:
    return make_app(seeded.project, seeded.store)


def text_of(response: httpx.Response) -> str:
    """The visible text of a page, roughly: tags dropped, whitespace squeezed."""
    import re
    from html import unescape

    body = re.sub(r"<(script|style)\b.*?</\1>", " ", response.text, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", body)).split())

