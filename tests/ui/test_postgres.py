"""The pages over PostgreSQL (``CAIRN_DB``): the same SQL paths as SQLite, on the real server."""

from __future__ import annotations

import math
from pathlib import Path
from urllib.parse import quote

import pytest

from cairn.project import init_project
from cairn.store import runs as run_store
from cairn.store.core import open_store
from cairn.store.metrics import write_series
from tests.ui.conftest import fetch, make_app, text_of
from tests.ui.seed import series


def test_pages_on_postgresql(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_DB", pg_url)
    project, _ = init_project(tmp_path)
    store = open_store(project)
    try:
        for i, (lr, model) in enumerate([(0.1, "rf"), (0.01, "rf"), (0.5, "logreg")]):
            with store.db.write() as tx:
                run = run_store.create_run(tx, store.project_id, name=f"r{i}", status="running",
                                           params={"lr": lr, "model": model})
            base = 0.5 + 0.1 * i

            def acc(step: int, base: float = base) -> float:
                return base + 0.001 * step

            with store.db.write() as tx:
                write_series(tx, run.id, {
                    "acc": series(50, acc),
                    "loss": series(50, lambda s: math.exp(-s / 10)),
                })
            with store.db.write() as tx:
                run_store.finish_run(tx, run.id, "finished", exit_code=0)
        app = make_app(project, store)
        page = fetch(app, "/runs?sort=-metrics.acc&filter=" + quote("params.model = rf"))
        assert page.status_code == 200
        assert "2 runs match" in text_of(page)
        assert page.text.index("r1") < page.text.index("r0")
        bad = fetch(app, "/runs?filter=" + quote("params.lr <"))
        assert bad.status_code == 400 and "column" in text_of(bad)
        assert "r2" in text_of(fetch(app, "/runs/3"))
        compare = fetch(app, "/compare?runs=1,2,3")
        assert compare.status_code == 200 and 'class="pc-line"' in compare.text
        board = fetch(app, "/leaderboard?metric=acc")
        assert board.status_code == 200 and "highest first" in text_of(board)
        data = fetch(app, "/ui/data/series?run=1&key=loss&max_points=20").json()
        assert data["runs"][0]["series"]["loss"]["count"] == 50
    finally:
        store.close()
