"""The model server answers every ``CairnError`` as ``cairn server`` does (one JSON shape, one
status and code per error), and a request too large is ``too_large`` whichever limit it passed:
the body size of the HTTP guard or the row cap of the protocols."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cairn.errors import CairnError
from cairn.model_server.app import Routes, create_serving_app
from cairn.project import Project
from tests.serving.conftest import IrisProject
from tests.test_errors import ERRORS, assert_answered, example


@pytest.fixture(scope="module")
def raising_app(iris: IrisProject) -> Iterator[tuple[FastAPI, list[CairnError]]]:
    """The real app of ``cairn serve``, whose ``GET /`` raises the last error put in the list."""
    raised: list[CairnError] = []

    async def index(self: Routes, request: Any) -> Any:
        raise raised[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Routes, "index", index)
        project = Project(root=iris.root, store_dir=iris.root / ".cairn")
        app = create_serving_app(project, "iris@1", log_predictions=False, max_rows=5,
                                 max_body_bytes=4096)
    yield app, raised
    app.state.served.store.close()


def call(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.request(method, path, **kwargs)
    return asyncio.run(go())


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_the_model_server_answers_every_error_with_its_status_and_code(
        cls: type[CairnError], raising_app: tuple[FastAPI, list[CairnError]]) -> None:
    app, raised = raising_app
    error = example(cls)
    raised.append(error)
    assert_answered(call(app, "GET", "/"), error)


def test_too_many_rows_and_too_many_bytes_have_one_code(
        raising_app: tuple[FastAPI, list[CairnError]], iris: IrisProject) -> None:
    app, _raised = raising_app
    rows = call(app, "POST", "/predict", json={"inputs": iris.rows[:6]})
    body = call(app, "POST", "/predict", json={"inputs": iris.rows[:1], "pad": "x" * 5000})

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"inputs": [[1, 2, 3, 4]], "pad": "'
        yield b"x" * 5000
        yield b'"}'

    streamed = call(app, "POST", "/predict", content=chunks(),
                    headers={"content-type": "application/json"})
    for answer in (rows, body, streamed):
        assert answer.status_code == 413, answer.text
        assert answer.json()["error"]["code"] == "too_large"
