"""A real cairn server (uvicorn on 127.0.0.1) over a real SQLite store, per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cairn.project import Project
from tests.server.live import LiveServer, make_token, server_project


@pytest.fixture
def server_dir(tmp_path: Path) -> Project:
    return server_project(tmp_path / "server")


@pytest.fixture
def start_server(server_dir: Project) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(**kwargs: Any) -> LiveServer:
        live = LiveServer(kwargs.pop("project", server_dir), **kwargs).start()
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


@pytest.fixture
def live(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server()


@pytest.fixture
def tokens(server_dir: Project) -> dict[str, str]:
    """Tokens of an admin, a writer and a reader of the server's project."""
    return {
        "admin": make_token(server_dir, "ada", "admin", is_admin=True),
        "writer": make_token(server_dir, "wes", "writer"),
        "reader": make_token(server_dir, "rita", "reader"),
    }


@pytest.fixture
def api(live: LiveServer, tokens: dict[str, str]) -> Iterator[Callable[[str], httpx.Client]]:
    """``api(role)``: an httpx client for the live server holding that role's token."""
    clients: list[httpx.Client] = []

    def client(role: str | None = "writer") -> httpx.Client:
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        made = httpx.Client(base_url=f"{live.url}/api/v1", headers=headers, timeout=30)
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()
