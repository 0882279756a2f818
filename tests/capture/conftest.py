"""Real git repositories and a real local object store for the capture tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cairn.objects.local import LocalObjectStore

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    return done.stdout


def make_repo(path: Path, files: dict[str, str | bytes], *, commit: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    write_files(path, files)
    git(path, "add", "-A")
    if commit:
        git(path, "commit", "-q", "-m", "first")
    return path


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)


def count_objects(store: LocalObjectStore) -> int:
    if not store.root.exists():
        return 0
    files = (p.relative_to(store.root) for p in store.root.rglob("*") if p.is_file())
    return sum(1 for rel in files if rel.parts[0] != "tmp")


@pytest.fixture
def store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", fsync=False)
