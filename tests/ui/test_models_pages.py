"""The model, deployment and prediction pages: in process (httpx.ASGITransport), and clicked
through in a real Chromium against a real uvicorn server on 127.0.0.1 (screenshots under
test-artifacts/ui/).

The project behind them went through the whole loop in real processes (``tests/ui/
models_seed.py``): trained and logged under ``cairn run``, registered, served predictions
logged by the serving code's own writer, labelled through its feedback function, retrained
with ``cairn retrain``. The app is the real one from ``create_app``. The numbers on the
deployment page are checked against ``cairn monitor --json``, the command-line face of the
same report.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI

from cairn._util.fmt import fmt_value
from cairn.project import Project, find_project, init_project
from cairn.store.core import MetaStore, open_store
from tests.ui.browser import chromium, serve, shot
from tests.ui.conftest import fetch, make_app, text_of
from tests.ui.models_seed import (
    CHURN_LABELLED,
    CHURN_PREDICTIONS,
    DEMAND_PREDICTIONS,
    ModelsProject,
    seed_models_project,
)
from tests.ui.models_seed import cli as cairn

if TYPE_CHECKING:
    from playwright.sync_api import Page

HX = {"HX-Request": "true", "HX-Target": "predictions-area"}


@pytest.fixture(scope="module")
def looped(tmp_path_factory: pytest.TempPathFactory) -> ModelsProject:
    return seed_models_project(tmp_path_factory.mktemp("models") / "churn")


@pytest.fixture(scope="module")
def app(looped: ModelsProject) -> Iterator[FastAPI]:
    from cairn.server.app import create_app

    made = create_app(looped.root, auth=False)
    yield made
    made.state.cairn.close()


def models_app(project: Project, store: MetaStore) -> FastAPI:
    """The runs pages' test app with the model pages added, as ``create_app`` adds them."""
    from cairn.server.ui.models_routes import router

    made = make_app(project, store)
    made.include_router(router)
    return made


def db_rows(root: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(root / ".cairn" / "cairn.db") as conn:
        return conn.execute(sql, params).fetchall()


def table_rows(html: str, table_id: str) -> list[str]:
    """The visible text of each body row of the table ``table_id``."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    body = body.split("<tbody>", 1)[1]
    rows = re.findall(r"<tr\b.*?</tr>", body, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", r).replace("&#39;", "'").split()) for r in rows]


def version_record(root: Path, name: str, version: int) -> dict[str, Any]:
    shown: dict[str, Any] = json.loads(cairn(root, "model", "show", f"{name}@{version}",
                                             "--json"))
    return shown


# -- the models list ---------------------------------------------------------------------------
def test_models_page_lists_every_model_with_versions_aliases_and_counts(app: FastAPI) -> None:
    page = fetch(app, "/models")
    assert page.status_code == 200
    assert '<a href="/models" class="active">Models</a>' in page.text
    rows = table_rows(page.text, "models-table")
    assert [r.split()[0] for r in rows] == ["churn", "churn-shadow", "demand"]
    churn, shadow, demand = rows
    assert churn.startswith("churn production v1 staging v2 candidate v2 2 v2")
    assert "sklearn classification" in churn and f"{CHURN_PREDICTIONS}" in churn
    assert shadow.startswith("churn-shadow 1 v1") and " 0 " in shadow
    assert "regression" in demand and f"{DEMAND_PREDICTIONS}" in demand
    assert 'class="badge alias production"' in page.text
    assert 'href="/models/churn/deployment"' in page.text
    assert 'href="/models/churn-shadow/deployment"' not in page.text  # nothing to show there


def test_a_project_without_models_says_how_to_register_one(tmp_path: Path) -> None:
    project, _ = init_project(tmp_path / "empty")
    store = open_store(project)
    try:
        page = fetch(models_app(project, store), "/models")
    finally:
        store.close()
    assert page.status_code == 200
    assert "No registered models yet" in text_of(page)
    assert "cairn model register RUN:model --name NAME" in text_of(page)


# -- one model ---------------------------------------------------------------------------------
def test_model_page_shows_each_version_with_its_run_and_training_metrics(
        app: FastAPI, looped: ModelsProject) -> None:
    page = fetch(app, "/models/churn")
    assert page.status_code == 200
    v2, v1 = table_rows(page.text, "versions-table")
    assert v2.startswith("v2 staging candidate run 2 finished")
    assert "retrained from v1 with 160 labelled production rows" in v2
    assert v1.startswith("v1 production run 1 · churn-train finished sklearn classification")
    assert " ana " in v1
    shown = json.loads(cairn(looped.root, "show", "1", "--json"))
    assert fmt_value(shown["metrics"]["train_accuracy"]) in v1
    assert str(CHURN_PREDICTIONS) in v1  # the predictions v1 answered
    assert '<a href="/runs/1">' in page.text and '<a href="/runs/2">' in page.text
    assert 'href="/models/churn/deployment?version=1"' in page.text


def test_the_retrain_comparison_shows_candidate_and_production_numbers(
        app: FastAPI, looped: ModelsProject) -> None:
    comparison = version_record(looped.root, "churn", 2)["record"]["comparison"]
    page = fetch(app, "/models/churn")
    v2 = table_rows(page.text, "versions-table")[0]
    lead = comparison["metric"]
    assert (f"{lead} {fmt_value(comparison['candidate'][lead], 3)} vs "
            f"{fmt_value(comparison['current'][lead], 3)} (v1)") in v2
    assert ("not better" if comparison["better"] is False else "better") in v2
    card = text_of(page).split("v2 (candidate) against v1", 1)[1]
    assert f"Both scored on the {comparison['rows']} most recent labelled predictions" in card
    for name in ("accuracy", "precision", "recall", "f1"):
        expected = f"{name} {fmt_value(comparison['candidate'][name])} " \
                   f"{fmt_value(comparison['current'][name])}"
        assert expected in card
    assert "cairn model alias churn@2 production" in card  # promotion is left to a person


def test_alias_history_lists_every_move_newest_first(app: FastAPI) -> None:
    page = fetch(app, "/models/churn")
    moves = [" ".join(r.split()[2:]) for r in table_rows(page.text, "alias-history-table")]
    assert moves == ["staging v1 → v2 bo", "candidate new → v2 ana", "staging new → v1 bo",
                     "production new → v1 ana"]


# -- a deployment ------------------------------------------------------------------------------
def test_live_metrics_and_counts_are_those_cairn_monitor_reports(
        app: FastAPI, looped: ModelsProject) -> None:
    report = json.loads(cairn(looped.root, "monitor", "churn", "--json"))
    page = fetch(app, "/models/churn/deployment")
    assert page.status_code == 200
    text = text_of(page)
    counts = report["counts"]
    assert counts["predictions"] == CHURN_PREDICTIONS and counts["labelled"] == CHURN_LABELLED
    assert f"PREDICTIONS {CHURN_PREDICTIONS}" in text.upper()
    assert f"LABELLED {CHURN_LABELLED}" in text.upper()
    rows = {r.split()[0]: r.split()[1:] for r in table_rows(page.text, "live-metrics")}
    assert set(rows) == {"accuracy", "precision", "recall", "f1"}
    windows = list(report["live"].values())
    for metric, shown in rows.items():
        assert shown == [fmt_value(w["metrics"][metric]) for w in windows], metric
    chart = re.search(r'<script type="application/json" id="live-data">(.*?)</script>',
                      page.text, flags=re.S)
    assert chart is not None
    series = json.loads(chart.group(1))["runs"][0]["series"]
    history = report["live_history"]
    assert series["f1"]["values"] == [p["metrics"]["f1"] for p in history]
    assert series["f1"]["times"] == [p["t"] for p in history]


def test_shifted_features_are_flagged_and_the_dataset_drift_banner_shows(
        app: FastAPI, looped: ModelsProject) -> None:
    report = json.loads(cairn(looped.root, "monitor", "churn", "--json"))
    page = fetch(app, "/models/churn/deployment")
    rows = {r.split()[0]: r for r in table_rows(page.text, "drift-table")}
    assert set(rows) == {"a", "b", "c"}
    assert "drifted" in rows["a"] and "drifted" in rows["b"]  # shifted in production
    assert "stable" in rows["c"]
    for name, row in rows.items():
        feature = report["drift"]["features"][name]
        assert (f"{fmt_value(feature['psi'], 3)} {fmt_value(feature['ks_statistic'], 3)} "
                f"{fmt_value(feature['ks_pvalue'], 3)}") in row
    banner = re.search(r'id="drift-banner">(.*?)</div>', page.text, flags=re.S)
    assert banner is not None and "Dataset drift." in banner.group(1)
    assert "2 of 3 features drifted" in banner.group(1)
    assert "cairn retrain churn@1" in banner.group(1)
    assert page.text.count('<svg class="bars"') == 3  # training vs live, per feature
    assert page.text.count('<svg class="spark"') == 3  # PSI over time, per feature


def test_a_regressor_shows_mae_and_rmse_and_no_drift_on_unshifted_inputs(
        app: FastAPI, looped: ModelsProject) -> None:
    report = json.loads(cairn(looped.root, "monitor", "demand", "--json"))
    page = fetch(app, "/models/demand/deployment")
    rows = {r.split()[0]: r.split()[1:] for r in table_rows(page.text, "live-metrics")}
    assert set(rows) == {"mae", "rmse"}
    assert rows["mae"][0] == fmt_value(report["live"]["last_500"]["metrics"]["mae"])
    assert "No dataset drift." in text_of(page)
    assert "drifted" not in " ".join(table_rows(page.text, "drift-table"))
    first = table_rows(page.text, "predictions-table")[0]
    newest = db_rows(looped.root, "SELECT output, label FROM predictions WHERE id = ?",
                     (looped.demand_ids[-1],))[0]
    error = json.loads(newest[0]) - json.loads(newest[1])
    assert first.endswith(f"{fmt_value(error, 3)} " + first.split()[-2] + " ms")


def test_predictions_are_listed_newest_first_and_paged(app: FastAPI,
                                                       looped: ModelsProject) -> None:
    page = fetch(app, "/models/churn/deployment")
    rows = table_rows(page.text, "predictions-table")
    assert len(rows) == 25
    assert f"{CHURN_PREDICTIONS} predictions of v1, newest first · page 1 of 10" in text_of(page)
    newest = looped.churn_ids[::-1]
    links = re.findall(r'href="/predictions/(p_[0-9a-f]+)"', page.text)
    assert links == newest[:25]
    assert all(r.split()[-3] == "–" for r in rows)  # the newest 40 have no label yet

    older = fetch(app, "/models/churn/deployment?page=8&n=25", headers=HX)
    assert older.status_code == 200 and "<html" not in older.text  # only the table, for htmx
    assert re.findall(r'href="/predictions/(p_[0-9a-f]+)"', older.text) == newest[175:200]
    labelled = db_rows(looped.root, "SELECT id, output, label FROM predictions WHERE id IN "
                       f"({', '.join('?' for _ in newest[175:200])})", tuple(newest[175:200]))
    right = sum(1 for _id, out, label in labelled if json.loads(out) == json.loads(label))
    assert older.text.count("outcome-right") == right
    assert older.text.count("outcome-wrong") == len(labelled) - right
    assert "page 8 of 10" in text_of(older)
    assert 'href="/models/churn/deployment?version=1&amp;n=25&amp;page=9#predictions"' \
        in older.text


def test_a_version_that_never_served_says_how_to_serve_it(app: FastAPI) -> None:
    page = fetch(app, "/models/churn/deployment?version=candidate")
    assert page.status_code == 200
    text = text_of(page)
    assert "deployment of v2" in text
    assert "churn@2 has logged no predictions yet" in text
    assert "cairn serve churn@2" in text
    assert 'id="live-metrics"' not in page.text


# -- one prediction ----------------------------------------------------------------------------
def test_a_prediction_links_to_its_version_run_code_environment_and_data(
        app: FastAPI, looped: ModelsProject) -> None:
    pid = looped.churn_ids[10]  # an early, labelled one
    output, label = db_rows(looped.root, "SELECT output, label FROM predictions WHERE id = ?",
                            (pid,))[0]
    page = fetch(app, f"/predictions/{pid}")
    assert page.status_code == 200
    answer = text_of(page).split("Where it came from", 1)[0]
    assert f"OUTPUT {json.loads(output)}" in answer.upper()
    assert f"LABEL {json.loads(label)}" in answer.upper()
    assert ("right" if json.loads(output) == json.loads(label) else "wrong") in answer
    chain = page.text.split('id="chain"', 1)[1].split("</ol>", 1)[0]
    assert '<a href="/models/churn#v1"><b>churn@1</b></a>' in chain
    assert '<a href="/runs/1" id="run-link"><b>run 1 · churn-train</b></a>' in chain
    assert f'<a href="/runs/1#code" id="code-link"><b class="mono">{looped.commit[:10]}' in chain
    assert '<a href="/runs/1#environment" id="env-link">' in chain and "Python 3." in chain
    assert '<a class="mono" href="/runs/1#files"' in chain and "data/" in chain
    assert fetch(app, "/runs/1").status_code == 200  # the run page it links to


def test_an_input_outside_the_training_range_is_pointed_out(app: FastAPI,
                                                            looped: ModelsProject) -> None:
    train = (looped.root / "data" / "train.csv").read_text().splitlines()[1:]
    top_a = max(float(line.split(",")[0]) for line in train)
    index = max(range(len(looped.churn_rows)), key=lambda i: looped.churn_rows[i]["a"])
    assert looped.churn_rows[index]["a"] > top_a  # the shift pushed it past training
    page = fetch(app, f"/predictions/{looped.churn_ids[index]}")
    rows = {r.split()[0]: r for r in table_rows(page.text, "inputs-table")}
    assert f"above the training range (max {fmt_value(top_a, 3)})" in rows["a"]
    assert re.search(r'<tr class="unusual"><td class="key">a</td>', page.text)
    assert "percentile" in rows["c"]


# -- what a user can get wrong -----------------------------------------------------------------
@pytest.mark.parametrize(("url", "status", "sentence"), [
    ("/models/nope", 404, "no registered model is named 'nope' registered models: churn, "
                          "churn-shadow, demand"),
    ("/models/nope/deployment", 404, "no registered model is named 'nope'"),
    ("/models/churn/deployment?version=9", 404, "model 'churn' has no version 9 "
                                                "churn has versions 1 to 2"),
    ("/models/churn/deployment?version=shadow", 404, "model 'churn' has no alias 'shadow' "
                                                     "aliases of churn: candidate, production"),
    ("/models/churn/deployment?window=ten", 400, "window and drift_window must be whole "
                                                 "numbers and minutes a number"),
    ("/models/churn/deployment?drift_window=0", 400, "windows must be positive"),
    ("/models/churn/deployment?page=0", 400, "page must be 1 or more, not 0"),
    ("/models/churn/deployment?n=many", 400, "n must be a whole number, not 'many'"),
    ("/predictions/p_0123", 404, "no logged prediction has the id 'p_0123'"),
])
def test_bad_addresses_get_one_sentence_and_change_nothing(
        app: FastAPI, looped: ModelsProject, url: str, status: int, sentence: str) -> None:
    before = db_rows(looped.root, "SELECT COUNT(*), COUNT(labelled_at) FROM predictions")
    versions = db_rows(looped.root, "SELECT COUNT(*) FROM model_versions")
    page = fetch(app, url)
    assert page.status_code == status
    assert sentence in text_of(page)
    assert "Traceback" not in page.text
    assert db_rows(looped.root, "SELECT COUNT(*), COUNT(labelled_at) FROM predictions") == before
    assert db_rows(looped.root, "SELECT COUNT(*) FROM model_versions") == versions


def test_a_version_whose_files_are_not_here_still_shows_live_metrics(tmp_path: Path) -> None:
    """A store that holds a version's record but not its files (pulled metadata only)."""
    project, _ = init_project(tmp_path / "partial")
    store = open_store(project)
    try:
        add_store_only_model(store)
        page = fetch(models_app(project, store), "/models/ghost/deployment")
    finally:
        store.close()
    assert page.status_code == 200
    text = text_of(page)
    assert "The files of ghost@1 cannot be read here" in text
    assert "The model has no training-data profile, so drift cannot be measured" in text
    rows = {r.split()[0]: r.split()[1:] for r in table_rows(page.text, "live-metrics")}
    assert rows["accuracy"][0] == fmt_value(0.75)


def add_store_only_model(store: MetaStore) -> None:
    """``ghost@1``: a registered version whose model folder is not in the object store, with
    40 logged predictions of which 30 are right."""
    from cairn.model_server.feedback import apply_feedback
    from cairn.model_server.predictions import PredictionLog, new_prediction_id
    from cairn.models.registry import register
    from cairn.store import runs as run_store
    from cairn.store.artifacts import ArtifactRow, add_artifacts
    from tests.serving.test_prediction_log import add_model

    with store.db.write() as tx:
        run = run_store.create_run(tx, store.project_id, name="elsewhere", status="finished")
    with store.db.write() as tx:
        add_artifacts(tx, [ArtifactRow(run.id, "model", "model", "f" * 64, 10, True)])
    add_model(store, "ghost")
    version = register(store, run.id, "model", "ghost", meta={
        "flavor": "sklearn", "task": "classification",
        "signature": {"type": "columns", "columns": [{"name": "x", "dtype": "float64"}]}})
    model_id = str(store.db.query("SELECT id FROM models WHERE name = 'ghost'")[0][0])
    ids = [new_prediction_id() for _ in range(40)]
    log = PredictionLog(store.db)
    from cairn._util.ids import now_ms

    log.record([(pid, model_id, version.version, now_ms(), [float(i)], i % 2, 0.3)
                for i, pid in enumerate(ids)])
    assert log.flush()
    apply_feedback(store.db, model_id, [(pid, json.dumps(i % 2 if i < 30 else 1 - i % 2))
                                        for i, pid in enumerate(ids)])


def test_model_pages_on_postgresql(pg_url: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_DB", pg_url)
    project, _ = init_project(tmp_path / "pg")
    store = open_store(project)
    try:
        add_store_only_model(store)
        app = models_app(project, store)
        listing = fetch(app, "/models")
        assert listing.status_code == 200 and "ghost" in text_of(listing)
        assert fetch(app, "/models/ghost").status_code == 200
        deployment = fetch(app, "/models/ghost/deployment?page=2&n=10")
        assert deployment.status_code == 200
        assert "40 predictions of v1, newest first · page 2 of 4" in text_of(deployment)
        pid = re.findall(r'href="/predictions/(p_[0-9a-f]+)"', deployment.text)[0]
        one = fetch(app, f"/predictions/{pid}")
        assert one.status_code == 200 and "run 1 · elsewhere" in text_of(one)
    finally:
        store.close()


def test_the_model_pages_need_the_reader_role_like_the_runs_pages(
        looped: ModelsProject) -> None:
    from cairn.server.app import create_app

    project = find_project(looped.root)
    assert project is not None
    guarded = create_app(project, auth=True)
    try:
        for url in ("/models", "/models/churn", "/models/churn/deployment",
                    f"/predictions/{looped.churn_ids[0]}"):
            refused = fetch(guarded, url)
            assert refused.status_code == 401, url
            assert "this server needs an API token" in refused.text
    finally:
        guarded.state.cairn.close()


# -- in a real browser -------------------------------------------------------------------------
def painted(page: Page, key: str) -> int:
    """How many pixels of the chart's canvas are painted (not blank)."""
    return int(page.evaluate("""key => {
        const box = document.querySelector(`.chart[data-key="${key}"] canvas`);
        const data = box.getContext('2d').getImageData(0, 0, box.width, box.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) n++;
        return n;
    }""", key))


def test_click_from_the_models_to_a_prediction_and_the_run_that_made_its_model(
        app: FastAPI, looped: ModelsProject) -> None:
    """Models → churn → its deployment → a prediction → the training run, in Chromium."""
    with serve(app) as base_url, chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

        page.goto(f"{base_url}/runs")
        page.click("header.top nav a:text-is('Models')")
        page.wait_for_url("**/models")
        assert page.locator("#models-table tbody tr").count() == 3
        shot(page, "models")

        page.click("#models-table a[href='/models/churn']")
        page.wait_for_url("**/models/churn")
        assert page.locator("#versions-table tbody tr").count() == 2
        assert page.locator("#alias-history-table tbody tr").count() == 4
        shot(page, "model")

        page.click("#deployment-link")
        page.wait_for_url("**/models/churn/deployment")
        page.wait_for_selector("[data-charts][data-drawn='1']")
        assert page.locator(".chart canvas").count() == 4
        assert painted(page, "f1") > 500
        page.select_option("[data-x]", "step")  # x: labelled predictions instead of time
        assert painted(page, "accuracy") > 500
        assert page.locator("#drift-table tr.drifted").count() == 2
        assert page.locator("#drift-banner").inner_text().startswith("Dataset drift.")
        shot(page, "deployment")

        page.click("#predictions-area .pager a[rel=next]")
        page.wait_for_function("() => document.querySelector('#predictions-count')"
                               ".textContent.includes('page 2 of 10')")
        assert "page=2" in page.url  # the page of predictions has its own address
        last = page.locator("#predictions-table tbody tr a").last
        pid = last.get_attribute("title")
        assert pid == looped.churn_ids[::-1][49]
        last.click()
        page.wait_for_url(f"**/predictions/{pid}")
        assert page.locator("#chain li").count() == 5
        shot(page, "prediction")

        page.click("#run-link")
        page.wait_for_url("**/runs/1")
        assert "churn-train" in page.inner_text("h1")
        shot(page, "prediction-run")
        context.close()
    assert errors == [], f"script errors on the pages: {errors}"
