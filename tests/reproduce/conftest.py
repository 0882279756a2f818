"""Projects in real git repositories, runs recorded by the real ``cairn run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cairn_cli, cairn_ok, commit_all, git, write  # noqa: F401

PYTHON = sys.executable


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Built environments go to a temporary cache, never the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


@pytest.fixture
def repo(workdir: Path) -> Path:
    """A git repository with one commit, holding a cairn project."""
    git(workdir, "init", "-q", "-b", "main")
    (workdir / "README.md").write_text("a project\n")
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "first")
    done = cairn_cli("init", cwd=workdir)
    assert done.returncode == 0, done.stderr
    return workdir








def record_run(root: Path, *args: str) -> None:
    """``cairn run ARGS`` (options, then ``--`` and the command), which must succeed."""
    cairn_ok("run", *args, cwd=root)


def show(root: Path, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cairn_ok("show", ref, "--json", cwd=root).stdout)
    return data


def repro_json(root: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    """``cairn repro ARGS --json``: exit code, verdict object, stderr."""
    done = cairn_cli("repro", *args, "--json", cwd=root)
    assert done.stdout.strip(), done.stderr
    verdict: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, verdict, done.stderr
