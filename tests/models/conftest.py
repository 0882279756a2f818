"""Real models on shipped data sets, logged into real projects (SQLite and local objects)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.models.artifact import log_model_to_run
from cairn.project import Project
from cairn.store.core import MetaStore, open_store
from cairn.store.record import RunRecord
from cairn.store.runs import RunRow, create_run, finish_run


@pytest.fixture(scope="session")
def iris() -> tuple[Any, Any]:
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return X, y


@pytest.fixture(scope="session")
def iris_pipeline(iris: tuple[Any, Any]) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = iris
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)


@pytest.fixture
def store(project: Project) -> Iterator[MetaStore]:
    opened = open_store(project)
    yield opened
    opened.close()


def logged_run(store: MetaStore, project: Project, model: Any, *, name: str = "model",
               example: Any = None, profile_data: Any = None, flavor: str | None = None,
               run_name: str | None = None) -> RunRow:
    """A finished run that logged ``model`` at ``name``, as ``cairn.log_model`` does."""
    with store.db.write() as tx:
        run = create_run(tx, store.project_id, name=run_name, record=RunRecord(source="sdk"))
    log_model_to_run(store, project, run.id, model, name=name, example=example,
                     flavor=flavor, profile_data=profile_data)
    with store.db.write() as tx:
        finish_run(tx, run.id)
    return run


def model_dir(tmp_path: Path) -> Path:
    return tmp_path / "model-folder"
