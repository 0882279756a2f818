"""Two users' project folders, a real cairn server and a real S3 server (moto) on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.project import Project, init_project
from cairn.runner.artifacts import add_path
from cairn.store import runs as run_store
from cairn.store.core import open_store
from cairn.store.metrics import write_series
from cairn.store.record import RunRecord
from cairn.store.series import Series
from tests.server.conftest import live, start_server  # noqa: F401 - shared fixtures
from tests.server.live import S3Server, make_token, server_project


def make_project(folder: Path) -> Project:
    folder.mkdir(parents=True, exist_ok=True)
    project, _ = init_project(folder)
    return project


def record_run(project: Project, name: str, *, files: int = 3, points: int = 100,
               created_by: str | None = None, status: str = "finished") -> run_store.RunRow:
    """A finished run with params, tags, a metric history, an input folder and an artifact."""
    data = project.root / f"data-{name}"
    data.mkdir(exist_ok=True)
    for i in range(files):
        (data / f"part-{i:05d}.csv").write_text(f"x,y\n{i},{i * i}\n{name}\n")
    (project.root / f"{name}.txt").write_text(f"notes of {name}\n")
    store = open_store(project)
    try:
        with store.db.write() as tx:
            run = run_store.create_run(
                tx, store.project_id, name=name, params={"lr": 0.1, "model": "rf"},
                tags={"team": "vision"}, created_by=created_by,
                record=RunRecord(source="snapshot"),
            )
        s = Series.empty()
        for i in range(points):
            s.steps.append(i)
            s.values.append(i / points)
            s.times.append(1_700_000_000_000 + i)
        with store.db.write() as tx:
            write_series(tx, run.id, {"acc": s})
        add_path(store, project, run.id, data, kind="input", name=f"data-{name}")
        add_path(store, project, run.id, project.root / f"{name}.txt", kind="artifact")
        if status != "running":
            with store.db.write() as tx:
                run_store.finish_run(tx, run.id, status)
        return run_store.get_run(store, run.id)
    finally:
        store.close()


@pytest.fixture
def alice(tmp_path: Path) -> Project:
    return make_project(tmp_path / "alice")


@pytest.fixture
def bob(tmp_path: Path) -> Project:
    return make_project(tmp_path / "bob")


@pytest.fixture
def server_dir(tmp_path: Path) -> Project:
    return server_project(tmp_path / "server")


@pytest.fixture
def writer_token(server_dir: Project) -> str:
    return make_token(server_dir, "alice", "writer")


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """Credentials for the moto server, as a user would set them (also for subprocesses)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    return s3_server
