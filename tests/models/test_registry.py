"""The registry on real SQLite and PostgreSQL stores: versions, aliases and their history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cairn.errors import InvalidInput, NotFound
from cairn.models.loading import load_version
from cairn.models.registry import (
    alias_history,
    delete_alias,
    get_version,
    list_models,
    list_versions,
    parse_ref,
    register,
    set_alias,
)
from cairn.project import Project
from cairn.store.core import MetaStore
from tests.models.conftest import logged_run


def test_versions_count_up_and_point_at_run_and_oid(any_store: MetaStore, project: Project,
                                                   iris: tuple[Any, Any],
                                                   iris_pipeline: Any) -> None:
    X, _ = iris
    first = logged_run(any_store, project, iris_pipeline, example=X.head())
    second = logged_run(any_store, project, iris_pipeline, name="clf", example=X.head())
    v1 = register(any_store, first.id, "model", "churn", by="ada")
    v2 = register(any_store, second.id, "clf", "churn", by="bob")
    assert (v1.version, v2.version) == (1, 2)
    assert (v1.run_id, v1.path, v1.flavor, v1.created_by) == (first.id, "model", "sklearn", "ada")
    assert v1.record["run_number"] == first.number
    assert v1.record["signature"]["type"] == "columns"
    assert v1.record["task"] == "classification"
    artifact_oid = any_store.db.query_one(
        "SELECT oid FROM artifacts WHERE run_id = ? AND path = 'model'", (first.id,))
    assert artifact_oid is not None and v1.oid == artifact_oid[0]
    # registering the same model again is not a new version
    assert register(any_store, first.id, "model", "churn").version == 1
    assert [v.version for v in list_versions(any_store, "churn")] == [2, 1]
    assert get_version(any_store, "churn", "latest").version == 2


def test_aliases_move_and_keep_their_history(any_store: MetaStore, project: Project,
                                            iris_pipeline: Any) -> None:
    run = logged_run(any_store, project, iris_pipeline)
    other = logged_run(any_store, project, iris_pipeline, name="again")
    register(any_store, run.id, "model", "churn")
    register(any_store, other.id, "again", "churn")
    set_alias(any_store, "churn", 1, "production", by="ada")
    moved = set_alias(any_store, "churn", "2", "production", by="bob")
    assert moved.aliases == ("production",)
    set_alias(any_store, "churn", "@production", "staging", by="bob")  # alias of an alias
    assert get_version(any_store, "churn", 2).aliases == ("production", "staging")
    assert get_version(any_store, "churn", 1).aliases == ()
    for selector in ("production", "@production", 2, "2"):
        assert get_version(any_store, "churn", selector).version == 2
    history = [(m.alias, m.from_version, m.to_version, m.by)
               for m in alias_history(any_store, "churn")]
    assert history == [("production", None, 1, "ada"), ("production", 1, 2, "bob"),
                       ("staging", None, 2, "bob")]
    assert all(m.at > 0 for m in alias_history(any_store, "churn"))
    delete_alias(any_store, "churn", "staging", by="ada")
    assert alias_history(any_store, "churn")[-1].to_version is None
    [summary] = list_models(any_store)
    assert (summary.name, summary.versions, summary.latest) == ("churn", 2, 2)
    assert summary.aliases == {"production": 2}


@pytest.mark.parametrize(("name", "selector", "message"), [
    ("nope", "1", "no registered model is named 'nope'"),
    ("churn", "7", "model 'churn' has no version 7"),
    ("churn", "prod", "model 'churn' has no alias 'prod'"),
])
def test_bad_references_are_one_sentence(store: MetaStore, project: Project,
                                         iris_pipeline: Any, name: str, selector: str,
                                         message: str) -> None:
    run = logged_run(store, project, iris_pipeline)
    register(store, run.id, "model", "churn")
    with pytest.raises(NotFound) as caught:
        get_version(store, name, selector)
    assert caught.value.message == message
    assert caught.value.hint  # says what exists instead


def test_names_and_aliases_are_checked(store: MetaStore, project: Project,
                                       iris_pipeline: Any) -> None:
    run = logged_run(store, project, iris_pipeline)
    with pytest.raises(InvalidInput, match="not a usable model name"):
        register(store, run.id, "model", "bad name!")
    with pytest.raises(NotFound, match="run 1 has no model at 'nothing'"):
        register(store, run.id, "nothing", "churn")
    register(store, run.id, "model", "churn")
    for alias in ("3", "latest", "has space"):
        with pytest.raises(InvalidInput):
            set_alias(store, "churn", 1, alias)
    assert alias_history(store, "churn") == []  # nothing was recorded by the refusals


def test_references_in_every_spelling() -> None:
    assert parse_ref("churn@production") == ("churn", "production")
    assert parse_ref("churn@3") == ("churn", "3")
    assert parse_ref("models:/churn@production") == ("churn", "production")
    assert parse_ref("models:/churn/2") == ("churn", "2")
    assert parse_ref("churn") == ("churn", "latest")
    with pytest.raises(InvalidInput):
        parse_ref("@production")


def test_load_version_restores_once_into_the_cache(store: MetaStore, project: Project,
                                                   iris: tuple[Any, Any],
                                                   iris_pipeline: Any) -> None:
    X, _ = iris
    run = logged_run(store, project, iris_pipeline, example=X.head(), profile_data=X)
    version = register(store, run.id, "model", "churn")
    set_alias(store, "churn", 1, "production")
    loaded = load_version(project, store, "models:/churn@production")
    assert (loaded.name, loaded.version, loaded.run_id) == ("churn", 1, run.id)
    assert loaded.path == project.store_dir / "models-cache" / version.oid
    np.testing.assert_array_equal(loaded.predict(X), iris_pipeline.predict(X))
    assert loaded.profile is not None and set(loaded.profile["features"]) == set(X.columns)
    stamp = (loaded.path / "cairn-model.json").stat().st_mtime_ns
    again = load_version(project, store, "churn@1")
    assert (again.path / "cairn-model.json").stat().st_mtime_ns == stamp
    assert not [p for p in (project.store_dir / "models-cache").iterdir()
                if p.name.startswith(".tmp")]


def test_a_model_whose_files_are_missing_is_not_found(store: MetaStore, project: Project,
                                                      iris_pipeline: Any) -> None:
    run = logged_run(store, project, iris_pipeline)
    version = register(store, run.id, "model", "churn")
    manifest = Path(project.objects_dir) / version.oid[:2] / version.oid[2:]
    manifest.chmod(0o644)
    manifest.unlink()
    with pytest.raises(NotFound, match="are not in this project's store"):
        load_version(project, store, "churn@1")
    assert get_version(store, "churn", 1).oid == version.oid  # the registry is untouched
