"""Real object stores and a real SQLite metadata database for the object-store tests."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cairn.objects.base import ObjectStore
from cairn.objects.fsspec_store import FsspecObjectStore
from cairn.objects.local import LocalObjectStore
from cairn.store.db import Database
from cairn.store.migrate import ensure_schema

STORE_KINDS = ["local", "memory", "fsspec-file"]


def make_store(kind: str, tmp_path: Path) -> ObjectStore:
    if kind == "local":
        return LocalObjectStore(tmp_path / "objects")
    if kind == "memory":
        # The memory filesystem is one per process: a unique path keeps tests apart.
        return FsspecObjectStore(f"memory://cairn-test-{uuid.uuid4().hex}/objects")
    return FsspecObjectStore(f"file://{tmp_path}/fsspec-objects")


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    made = make_store(request.param, tmp_path)
    yield made
    if isinstance(made, FsspecObjectStore) and made.url.startswith("memory://"):
        bucket = "/" + made.root.strip("/").split("/")[0]
        if made.fs.exists(bucket):
            made.fs.rm(bucket, recursive=True)


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """The metadata database on SQLite, and on PostgreSQL where a test server is set up."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'cairn.db'}"
    else:
        url = str(request.getfixturevalue("pg_url"))
    database = Database(url)
    ensure_schema(database, lock_dir=tmp_path)
    yield database
    database.close()


def _age(path: Path, seconds: float = 3600) -> None:
    when = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(when, when), follow_symlinks=False)


def _write(path: Path, data: bytes | str, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)
    return path


@pytest.fixture
def age() -> Callable[..., None]:
    """Backdate a file's mtime so the stat cache may trust it (it is not "racy")."""
    return _age


@pytest.fixture
def write() -> Callable[..., Path]:
    """Write a file (making its folders), optionally with a mode."""
    return _write
