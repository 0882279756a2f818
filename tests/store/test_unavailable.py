"""A PostgreSQL store that goes away is ``StoreUnavailable`` in one sentence, as SQLite's is,
and the next use connects again; the connection is really dropped, by the server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from cairn.errors import StoreUnavailable
from cairn.project import Project
from cairn.store import runs
from cairn.store.core import MetaStore, open_store
from tests.conftest import cairn_cli
from tests.server.live import LiveServer, server_project

DROP_OTHERS = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
               "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def pg_project(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("CAIRN_DB", pg_url)
    return server_project(tmp_path / "pg")


@pytest.fixture
def store(pg_project: Project) -> Iterator[MetaStore]:
    opened = open_store(pg_project)
    yield opened
    opened.close()


@pytest.fixture
def drop_connections(pg_url: str) -> Callable[[], None]:
    """Terminate every other backend of the test database, as a restarted server would."""

    def drop() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(DROP_OTHERS)

    return drop


def _one_sentence(error: StoreUnavailable) -> None:
    assert error.message.startswith("the metadata store cannot be used: ")
    assert "\n" not in error.message and "terminating connection" in error.message
    assert error.hint is not None and "connects again" in error.hint


def test_a_dropped_connection_is_unavailable_once_then_reconnects(
        store: MetaStore, drop_connections: Callable[[], None]) -> None:
    with store.db.write() as tx:
        runs.create_run(tx, store.project_id, name="before")
    drop_connections()
    with pytest.raises(StoreUnavailable) as lost:
        runs.list_runs(store)
    _one_sentence(lost.value)
    assert [r.name for r in runs.list_runs(store)] == ["before"]


def test_a_connection_dropped_inside_a_write_rolls_it_back(
        store: MetaStore, drop_connections: Callable[[], None]) -> None:
    with pytest.raises(StoreUnavailable) as lost, store.db.write() as tx:
        tx.execute("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
                   ("p-lost", "lost", 0))
        drop_connections()
        tx.execute("SELECT 1")
    _one_sentence(lost.value)
    assert store.db.query("SELECT id FROM projects WHERE id = ?", ("p-lost",)) == []
    with store.db.write() as tx:  # a write on the new connection
        runs.create_run(tx, store.project_id, name="after")


def test_the_server_answers_503_then_serves_again(
        pg_project: Project, drop_connections: Callable[[], None]) -> None:
    live = LiveServer(pg_project, auth=False).start()
    try:
        with httpx.Client(base_url=f"{live.url}/api/v1", timeout=30) as client:
            assert client.get("/runs").status_code == 200
            drop_connections()
            answers = [client.get("/runs") for _ in range(12)]
    finally:
        live.stop()
    failed = [a for a in answers if a.status_code != 200]
    assert all(a.status_code == 503 and a.json()["error"]["code"] == "store_unavailable"
               for a in failed), [a.text for a in failed]
    assert answers[-1].status_code == 200  # each worker thread has connected again


def test_an_unreachable_server_is_one_sentence_on_the_command_line(tmp_path: Path,
                                                                   pg_url: str) -> None:
    base, _name = pg_url.rsplit("/", 1)
    with psycopg.connect(pg_url) as conn:
        port = int(conn.info.port)
    nowhere = base.replace(f":{port}", ":1") + "/nothing"
    (tmp_path / "w").mkdir()
    assert cairn_cli("init", cwd=tmp_path / "w").returncode == 0
    done = cairn_cli("ls", cwd=tmp_path / "w", env={"CAIRN_DB": nowhere})
    assert done.returncode == StoreUnavailable.exit_code, done.stderr
    assert done.stderr.startswith("cairn: error: cannot connect to PostgreSQL")
    assert "Traceback" not in done.stderr
