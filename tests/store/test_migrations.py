"""Upgrading a store that already holds data keeps what it holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.store import migrate
from cairn.store.db import Database
from cairn.store.predictions import LogCounts, log_counts, recent_predictions


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'cairn.db'}"


def test_a_prediction_log_written_before_its_counts_existed_is_counted(
        url: str, tmp_path: Path) -> None:
    migrate.upgrade(url, "0002")
    db = Database(url)
    with db.write() as w:
        w.execute("INSERT INTO projects (id, name, created_at) VALUES ('p', 'demo', 1)")
        w.execute("INSERT INTO models (id, project_id, name, created_at) "
                  "VALUES ('m', 'p', 'churn', 1)")
        for i in range(50):  # even rows: version 1; the first 20 labelled, 0, 2, 4 twice
            labelled = i < 20
            w.execute(
                "INSERT INTO predictions (id, model_id, version, created_at, inputs, output, "
                "latency_ms, label, labelled_at, feedback_count) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (f"p_{i:032x}", "m", 1 + i % 2, 1_000 + i, "[1]", "0", 0.1,
                 "1" if labelled else None, 2_000 + i if labelled else None,
                 2 if i < 5 else int(labelled)))
    assert migrate.current_revision(db) == "0002"

    migrate.ensure_schema(db, tmp_path)

    assert migrate.current_revision(db) == migrate.HEAD
    assert log_counts(db, "m", 1) == LogCounts(25, 10, 13, 1_000, 1_048)
    assert log_counts(db, "m") == LogCounts(50, 20, 25, 1_000, 1_049)
    newest = recent_predictions(db, "m", version=2, labelled=True, limit=3)
    assert [p.id for p in newest] == [f"p_{i:032x}" for i in (19, 17, 15)]
    db.close()


def test_tokens_made_before_expiry_existed_keep_working_and_never_expire(
        url: str, tmp_path: Path) -> None:
    from cairn.store.accounts import hash_secret, list_tokens, token_user

    migrate.upgrade(url, "0003")
    db = Database(url)
    with db.write() as w:
        w.execute("INSERT INTO users (id, name, is_admin, created_at) VALUES ('u', 'old', ?, 1)",
                  (False,))
        w.execute("INSERT INTO tokens (id, user_id, name, token_hash, created_at) "
                  "VALUES ('t', 'u', 'ci', ?, 1)", (hash_secret("cairn_old"),))

    migrate.ensure_schema(db, tmp_path)

    assert migrate.current_revision(db) == migrate.HEAD
    user = token_user(db, hash_secret("cairn_old"), 2**62)
    assert user is not None and user.name == "old"
    [token] = list_tokens(db)
    assert (token.label, token.expires_at, token.status(2**62)) == ("ci", None, "active")
    db.close()
