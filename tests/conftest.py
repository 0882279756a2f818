"""Shared fixtures: temporary projects with real SQLite files, real git, real processes.

``pg_url`` gives a fresh database on the PostgreSQL server that ``make test`` starts
(``CAIRN_TEST_PG``). Without one the PostgreSQL tests skip with the reason, except in CI
(``CI=true``), where a missing server is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.project import Project
from cairn.store.core import MetaStore, open_store

PYTHON = sys.executable


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the user's config, an outer project or a server URL."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for name in ("CAIRN_DIR", "CAIRN_DB", "CAIRN_RUN_ID", "CAIRN_PROJECT", "CAIRN_DEBUG",
                 "CAIRN_BOOT_OUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder, made the working directory; cairn will create .cairn/ here."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture
def project(workdir: Path) -> Project:
    from cairn.project import init_project

    proj, _ = init_project(workdir)
    return proj


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, project: Project,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[MetaStore]:
    """The project's metadata store, once on SQLite and once on PostgreSQL."""
    if request.param == "postgresql":
        monkeypatch.setenv("CAIRN_DB", request.getfixturevalue("pg_url"))
    opened = open_store(project)
    yield opened
    opened.close()


def cairn_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
              input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``cairn`` command in a subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    full_env.setdefault("COLUMNS", "200")
    return subprocess.run(
        [PYTHON, "-m", "cairn", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
        input=input, timeout=timeout, check=False,
    )


def run_python(code: str, *, cwd: Path, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([PYTHON, "-c", code], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def git(cwd: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=True)
    return done.stdout


def write(root: Path, rel: str, text: str) -> Path:
    """Write a dedented text file under ``root``, making its folders."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def commit_all(root: Path, message: str = "work") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def cairn_ok(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``cairn`` and insist that it succeeded."""
    done = cairn_cli(*args, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="session")
def pg_server() -> str:
    url = os.environ.get("CAIRN_TEST_PG", "")
    reason = ""
    if not url:
        reason = "CAIRN_TEST_PG is not set (make test starts PostgreSQL and sets it)"
    else:
        try:
            import psycopg

            psycopg.connect(url, connect_timeout=5).close()
        except Exception as exc:  # any failure means: no usable server
            reason = f"PostgreSQL at {url} cannot be reached: {exc}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL tests must run in CI: {reason}")
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on the test server, dropped afterwards."""
    import psycopg

    name = f"cairn_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base = pg_server.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
