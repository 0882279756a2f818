"""The one error tree: every ``CairnError`` lives in ``cairn.errors``, in its drawing, and is
drawn by the CLI and answered by the server with its own exit code, status and code.

Subclasses are found by importing every cairn module and walking ``__subclasses__``, so an
error defined anywhere else, or left out of the drawing, fails here. The model server's face
is checked the same way in ``tests/serving/test_serve_errors.py``.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import httpx
import pytest
from fastapi import FastAPI

import cairn
from cairn import errors
from cairn.cli import main as cli_main
from cairn.errors import CairnError

# Errors whose constructor takes more than a sentence and a hint.
SPECIAL: dict[type[CairnError], Any] = {
    errors.FilterSyntaxError: lambda: errors.FilterSyntaxError(
        "expected a value", expression="metrics.acc >", position=13),
    errors.UnknownPredictions: lambda: errors.UnknownPredictions(["p1", "p2"], 5),
    errors.MissingExtra: lambda: errors.MissingExtra("psycopg", "postgres"),
}


def all_subclasses() -> list[type[CairnError]]:
    for info in pkgutil.walk_packages(cairn.__path__, "cairn."):  # Alembic scripts aside
        if not info.name.endswith("__main__") and ".migrations" not in info.name:
            importlib.import_module(info.name)
    found: list[type[CairnError]] = []
    todo = [CairnError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return sorted(set(found), key=lambda c: c.__name__)


def example(cls: type[CairnError]) -> CairnError:
    """An instance of ``cls``; an error with its own constructor needs an entry in SPECIAL."""
    make = SPECIAL.get(cls)
    return make() if make else cls(f"something about {cls.__name__} went wrong",
                                   hint="try the other thing")


ERRORS = all_subclasses()


def drawing() -> dict[str, tuple[int, int]]:
    """Name -> (exit code, HTTP status), as the docstring of ``cairn.errors`` draws them."""
    doc = errors.__doc__ or ""
    return {m[1]: (int(m[2]), int(m[3]))
            for m in re.finditer(r"(\w+)\s.*?exit (\d+), HTTP (\d{3})", doc)}


def test_the_tree_is_found() -> None:
    assert {errors.Unauthenticated, errors.TooLarge, errors.SchemaMismatch,
            errors.UnknownPredictions} <= set(ERRORS)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_every_error_lives_in_errors_py_and_its_drawing(cls: type[CairnError]) -> None:
    assert cls.__module__ == "cairn.errors", f"{cls.__name__} belongs in cairn/errors.py"
    assert drawing().get(cls.__name__) == (cls.exit_code, cls.http_status), (
        f"draw {cls.__name__} in the tree of cairn/errors.py as "
        f"'exit {cls.exit_code}, HTTP {cls.http_status}'")


def test_codes_are_distinct_per_status() -> None:
    seen: dict[str, int] = {}
    for cls in ERRORS:
        assert seen.setdefault(cls.code, cls.http_status) == cls.http_status, cls.code
    assert errors.TooLarge.code == "too_large"  # the one code of a 413, on both servers


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_the_cli_draws_every_error_and_exits_with_its_code(
        cls: type[CairnError], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    error = example(cls)

    @click.command()
    def fails() -> None:
        raise error

    monkeypatch.setattr(cli_main, "cli", fails)
    with pytest.raises(SystemExit) as done:
        cli_main.main([])
    assert done.value.code == cls.exit_code
    shown = capsys.readouterr().err
    assert shown == cli_main.render_error(error) + "\n"
    lines = shown.splitlines()
    assert lines[0] == f"cairn: error: {error.message}"
    assert all(line.startswith("  ") for line in lines[1:])
    if error.hint:
        assert lines[-1] == f"  {error.hint}"


def test_the_cli_draws_the_caret_under_a_filters_column() -> None:
    error = example(errors.FilterSyntaxError)
    assert cli_main.render_error(error).splitlines() == [
        "cairn: error: expected a value at column 14",
        "  metrics.acc >",
        "               ^",
    ]


@pytest.fixture(scope="module")
def server_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    from cairn.server.app import create_app
    from tests.server.live import server_project

    app = create_app(server_project(tmp_path_factory.mktemp("errors")), auth=False)
    raised: list[CairnError] = []

    @app.get("/api/v1/test-raise")
    def test_raise() -> None:
        raise raised[-1]

    app.state.raised = raised
    yield app
    app.state.cairn.close()


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_the_server_answers_every_error_with_its_status_and_code(
        cls: type[CairnError], server_app: FastAPI) -> None:
    error = example(cls)
    server_app.state.raised.append(error)
    assert_answered(ask(server_app, "/api/v1/test-raise"), error)


def ask(app: Any, path: str) -> httpx.Response:
    """GET ``path`` from ``app`` in process."""
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            return await client.get(path)
    return asyncio.run(go())


def assert_answered(answer: httpx.Response, error: CairnError) -> None:
    """The one JSON error of both servers (``_http.errors``), for ``error``."""
    assert answer.status_code == error.http_status, answer.text
    assert answer.headers["content-type"] == "application/json"
    expected: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.hint:
        expected["hint"] = error.hint
    expected.update(error.details())
    assert answer.json() == {"error": expected}
    if error.http_status == 401:
        assert answer.headers["www-authenticate"] == "Bearer"


def test_the_drawing_names_no_class_that_does_not_exist() -> None:
    names = {cls.__name__ for cls in ERRORS}
    assert set(drawing()) == names


def test_no_command_exits_with_a_bare_number() -> None:
    """Exit codes come from the tree; only ``cli.main`` exits by itself (0, or 130 on Ctrl-C)."""
    source = Path(cairn.__file__).parent / "cli"
    bare = [f"{path.name}: {line.strip()}" for path in source.glob("*.py") if path.name != "main.py"
            for line in path.read_text().splitlines() if re.search(r"sys\.exit\(\d+\)", line)]
    assert bare == []
