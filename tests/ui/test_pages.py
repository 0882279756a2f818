"""The web UI's pages, asked for in process (httpx.ASGITransport) against a real seeded store."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI

from cairn.project import init_project
from cairn.store import runs as run_store
from cairn.store.core import open_store
from tests.ui.conftest import fetch, make_app, text_of
from tests.ui.seed import Seeded

HX = {"HX-Request": "true"}


def row_numbers(html: str) -> list[int]:
    """Run numbers of the runs table's rows, top to bottom."""
    return [int(n) for n in re.findall(r'name="runs" value="(\d+)"', html)]


# -- runs table --------------------------------------------------------------------------------
def test_runs_page_lists_runs_newest_first_with_badges(app: FastAPI) -> None:
    page = fetch(app, "/runs")
    assert page.status_code == 200
    assert row_numbers(page.text) == [5, 4, 3, 2, 1]
    text = text_of(page)
    assert "5 runs" in text
    for name in ("baseline", "tuned", "logreg", "baseline-repro", "live"):
        assert name in text
    assert '<span class="badge failed">failed</span>' in page.text
    assert '<span class="badge REPRODUCED">REPRODUCED</span>' in page.text
    assert row_numbers(fetch(app, "/").text) == [5, 4, 3, 2, 1]
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_runs_page_shows_the_params_and_metrics_that_vary(app: FastAPI) -> None:
    page = fetch(app, "/runs")
    headers = re.findall(r'title="sort by ([^"]+)"', page.text)
    for field in ("metrics.acc", "metrics.loss", "params.lr", "params.model", "params.depth"):
        assert field in headers
    assert not any(h.startswith("metrics.sys/") for h in headers)


def test_filter_uses_the_filter_language(app: FastAPI) -> None:
    page = fetch(app, "/runs?filter=" + quote("params.model = rf and metrics.acc > 0.9"))
    assert page.status_code == 200
    assert row_numbers(page.text) == [4, 2, 1]
    assert "3 runs match" in text_of(page)


def test_a_malformed_filter_shows_its_column_and_keeps_every_run(app: FastAPI,
                                                                 seeded: Seeded) -> None:
    page = fetch(app, "/runs?filter=" + quote("metrics.acc >> 1"))
    assert page.status_code == 400
    text = text_of(page)
    assert "at column 14" in text
    assert 'value="metrics.acc &gt;&gt; 1"' in page.text  # kept in the filter box
    assert "^" in page.text
    assert row_numbers(page.text) == []
    assert run_store.count_runs(seeded.store) == 5  # nothing recorded was touched


def test_sort_by_a_metric_and_back(app: FastAPI) -> None:
    best_first = fetch(app, "/runs?sort=-metrics.acc")
    assert row_numbers(best_first.text)[:1] == [2]
    assert row_numbers(best_first.text)[-1] == 5  # no acc: last
    worst_first = fetch(app, "/runs?sort=metrics.acc")
    assert row_numbers(worst_first.text)[0] == 3
    # the header link of the sorted column flips the direction
    assert 'href="/runs?sort=metrics.acc"' in best_first.text


def test_chosen_columns_replace_the_automatic_ones(app: FastAPI) -> None:
    page = fetch(app, "/runs?cols=chosen&col=params.lr&col=" + quote("metrics.sys/cpu_percent"))
    headers = re.findall(r'title="sort by ([^"]+)"', page.text)
    assert [h for h in headers if "." in h] == ["params.lr", "metrics.sys/cpu_percent"]
    assert "cols=chosen&amp;col=params.lr" in page.text  # links keep the choice
    # the filter box sends the ticked automatic columns too: they stay automatic
    auto = fetch(app, "/runs?col=params.lr&filter=" + quote("params.model = rf"))
    headers = re.findall(r'title="sort by ([^"]+)"', auto.text)
    assert "params.lr" in headers and "metrics.acc" in headers
    bad = fetch(app, "/runs?cols=chosen&col=weights.w1")
    assert bad.status_code == 400
    assert "a column is params.KEY or metrics.KEY" in text_of(bad)


def test_paging_reads_one_page_at_a_time(app: FastAPI) -> None:
    first = fetch(app, "/runs?n=2")
    assert row_numbers(first.text) == [5, 4]
    assert "page 1 of 3" in text_of(first)
    assert 'href="/runs?n=2&amp;page=2"' in first.text
    last = fetch(app, "/runs?n=2&page=3")
    assert row_numbers(last.text) == [1]
    beyond = fetch(app, "/runs?n=2&page=9")
    assert beyond.status_code == 200
    assert "No runs on this page" in text_of(beyond)
    for bad, sentence in (("page=abc", "page must be a whole number"),
                          ("page=0", "page must be 1 or more"), ("n=-5", "n must be 1 or more")):
        answer = fetch(app, f"/runs?{bad}")
        assert answer.status_code == 400, bad
        assert sentence in text_of(answer)


def test_htmx_gets_only_the_table(app: FastAPI) -> None:
    part = fetch(app, "/runs?sort=name", headers={**HX, "HX-Target": "runs-area"})
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<div id="runs-area">')
    assert "<html" not in part.text
    restore = fetch(app, "/runs", headers={**HX, "HX-Target": "runs-area",
                                           "HX-History-Restore-Request": "true"})
    assert "<html" in restore.text


def test_an_empty_project_says_how_to_start(tmp_path: Path) -> None:
    project, _ = init_project(tmp_path)
    store = open_store(project)
    try:
        app = make_app(project, store)
        assert "No runs yet" in text_of(fetch(app, "/runs"))
        assert "No run has logged a metric yet" in text_of(fetch(app, "/leaderboard"))
    finally:
        store.close()


def test_run_names_are_escaped(tmp_path: Path) -> None:
    project, _ = init_project(tmp_path)
    store = open_store(project)
    try:
        with store.db.write() as tx:
            run_store.create_run(
                tx, store.project_id, name="<script>alert(1)</script>", status="finished",
                params={"note": "<b>x</b>"},
            )
        app = make_app(project, store)
        for url in ("/runs", "/runs/1"):
            page = fetch(app, url)
            assert "<script>alert(1)</script>" not in page.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    finally:
        store.close()


# -- one run -----------------------------------------------------------------------------------
def test_run_page_shows_the_whole_record(app: FastAPI, seeded: Seeded) -> None:
    page = fetch(app, "/runs/baseline")
    assert page.status_code == 200
    text = text_of(page)
    assert "Run 1 · baseline" in text
    assert re.search(r"lr\s+0\.1", text) and re.search(r"model\s+rf", text)
    assert "300 pt" in text  # metric point counts
    assert 'data-key="loss"' in page.text and 'data-key="acc"' in page.text
    assert 'data-key="sys/cpu_percent"' in page.text  # system metrics have their own charts
    # code: the real commit and a coloured diff of the uncommitted change
    assert re.search(r"commit\s+[0-9a-f]{40}", text)
    assert '<span class="add">+epochs = 3</span>' in page.text
    assert '<span class="hunk">@@' in page.text
    # environment and host
    assert "Packages" in text and "installed" in text
    assert "Interpreter" in text and "python 3." in text
    # the log, without terminal codes and with progress bars at their last state
    assert "progress 100%" in text
    assert "progress 10%" not in text and "\x1b[" not in page.text


def test_run_page_lists_files_with_working_downloads(app: FastAPI) -> None:
    page = fetch(app, "/runs/1")
    links = re.findall(r'href="(/ui/runs/1/files/[^"]+)"', page.text)
    assert "/ui/runs/1/files/input/data/train.csv" in links
    assert "/ui/runs/1/files/output/out/model.pkl" in links
    got = fetch(app, "/ui/runs/1/files/input/data/train.csv")
    assert got.status_code == 200
    assert got.content == b"x,y\n1,2\n3,4\n"
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert 'filename="train.csv"' in got.headers["content-disposition"]
    model = fetch(app, "/ui/runs/baseline/files/output/out/model.pkl")
    assert model.content == b"\x80\x04model-bytes"


@pytest.mark.parametrize(("url", "status", "sentence"), [
    ("/ui/runs/1/files/input/data/%2E%2E/%2E%2E/%2E%2E/etc/passwd", 404, "has no input file"),
    ("/ui/runs/1/files/input/%2Fetc%2Fpasswd", 404, "has no input file"),
    ("/ui/runs/1/files/input/data", 400, "is a folder"),
    ("/ui/runs/1/files/secrets/x", 400, "unknown kind of file"),
    ("/ui/runs/77/files/input/data/train.csv", 404, "no run matches '77'"),
])
def test_downloads_serve_only_declared_files(app: FastAPI, url: str, status: int,
                                             sentence: str) -> None:
    answer = fetch(app, url)
    assert answer.status_code == status
    assert sentence in text_of(answer)
    assert "root:" not in answer.text


def test_run_log_as_text(app: FastAPI) -> None:
    log = fetch(app, "/ui/runs/1/log")
    assert log.status_code == 200
    assert log.headers["content-type"].startswith("text/plain")
    assert b"saved model to out/model.pkl" in log.content
    assert fetch(app, "/ui/runs/2/log").status_code == 404


def test_lineage_graph_links_forks_and_reproductions(app: FastAPI) -> None:
    page = fetch(app, "/runs/1")
    svg = page.text[page.text.index('<svg class="lineage"'):]
    svg = svg[:svg.index("</svg>")]
    for number in (3, 4, 5):
        assert f'href="/runs/{number}"' in svg
    assert "forked into" in svg and "reproduced by" in svg and "parent of" in svg
    assert "REPRODUCED" in svg
    fork = fetch(app, "/runs/3")
    assert "forked from run 1" in text_of(fork)


def test_an_unknown_run_is_a_readable_404(app: FastAPI) -> None:
    page = fetch(app, "/runs/nope")
    assert page.status_code == 404
    assert "no run matches 'nope'" in text_of(page)
    assert "Traceback" not in page.text


def test_live_status_polls_until_the_run_ends(app: FastAPI, seeded: Seeded) -> None:
    with seeded.store.db.write() as tx:
        run = run_store.create_run(tx, seeded.store.project_id, name="polled", status="running")
    live = fetch(app, f"/ui/runs/{run.number}/live")
    assert live.status_code == 200
    assert 'hx-trigger="every 3s"' in live.text
    log_path = seeded.project.runs_dir / run.id / "output.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_bytes(b"epoch 1\r\n")
    tail = fetch(app, f"/ui/runs/{run.number}/log-tail")
    assert tail.status_code == 200 and "epoch 1" in tail.text and "every 3s" in tail.text
    with seeded.store.db.write() as tx:
        run_store.finish_run(tx, run.id, "finished", exit_code=0)
    assert fetch(app, f"/ui/runs/{run.number}/log-tail").status_code == 286
    done = fetch(app, f"/ui/runs/{run.number}/live")
    assert done.status_code == 286  # htmx stops polling
    assert done.headers["hx-refresh"] == "true"  # and reloads the page once
    assert "hx-trigger" not in done.text and "finished" in done.text


# -- chart data --------------------------------------------------------------------------------
def test_series_data_for_charts(app: FastAPI) -> None:
    got = fetch(app, "/ui/data/series?run=1&run=2&key=loss&max_points=40")
    assert got.status_code == 200
    runs = got.json()["runs"]
    assert [r["number"] for r in runs] == [1, 2]
    loss = runs[0]["series"]["loss"]
    assert loss["count"] == 300
    assert len(loss["steps"]) <= 40
    assert loss["steps"][0] == 0 and loss["steps"][-1] == 299
    assert len(loss["steps"]) == len(loss["values"]) == len(loss["times"])
    ranged = fetch(app, "/ui/data/series?run=1&key=loss&step_min=100&step_max=120").json()
    steps = ranged["runs"][0]["series"]["loss"]["steps"]
    assert steps == list(range(100, 121))
    every = fetch(app, "/ui/data/series?run=1").json()["runs"][0]["series"]
    assert set(every) == {"acc", "loss", "sys/cpu_percent", "sys/rss_mb"}


@pytest.mark.parametrize(("query", "status", "code", "words"), [
    ("run=1&max_points=3", 400, "invalid_input", "max_points must be between"),
    ("run=1&max_points=lots", 400, "invalid_input", "max_points must be a whole number"),
    ("run=1&step_min=x", 400, "invalid_input", "step_min must be a number"),
    ("run=404", 404, "not_found", "no run matches '404'"),
    ("", 400, "invalid_input", "name at least one run"),
])
def test_series_data_errors_are_json(app: FastAPI, query: str, status: int, code: str,
                                     words: str) -> None:
    got = fetch(app, f"/ui/data/series?{query}")
    assert got.status_code == status
    error = got.json()["error"]
    assert error["code"] == code and words in error["message"]


# -- compare -----------------------------------------------------------------------------------
def test_compare_highlights_differences(app: FastAPI) -> None:
    page = fetch(app, "/compare?runs=1,2,3")
    assert page.status_code == 200
    params = page.text[page.text.index('id="compare-params"'):]
    params = params[:params.index("</table>")]
    found = {key: cls for cls, key in re.findall(
        r'<tr class="(diff|same)">\s*<td class="key">([^<]+)</td>', params)}
    assert found == {"depth": "diff", "lr": "diff", "model": "diff"}
    assert '<td class="num changed">logreg</td>' in params
    text = text_of(page)
    assert re.search(r"~ numpy \S+ → 2\.0\.0", text)  # run 3 came from another machine
    assert "run 1 → run 2" in text and "run 1 → run 3" in text
    assert "uncommitted changes differ" in text
    assert 'data-key="loss"' in page.text and 'data-key="acc"' in page.text
    assert page.text.count('class="pc-line"') == 3


def test_compare_same_runs_shows_no_difference(app: FastAPI) -> None:
    page = fetch(app, "/compare?runs=1&runs=4")
    params = page.text[page.text.index('id="compare-params"'):]
    params = params[:params.index("</table>")]
    assert 'class="diff"' not in params
    assert "share every param" in text_of(page)


def test_parallel_coordinates_follow_the_chosen_metric(app: FastAPI) -> None:
    part = fetch(app, "/ui/compare/parallel?runs=1,2,3&metric=loss", headers=HX)
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<svg class="parallel"')
    assert "loss = " in part.text and "<html" not in part.text


@pytest.mark.parametrize(("query", "status", "sentence"), [
    ("runs=1", 400, "pick at least two different runs"),
    ("runs=1,1", 400, "pick at least two different runs"),
    ("runs=1,2,300", 404, "no run matches '300'"),
    ("runs=1,zzz", 404, "no run matches 'zzz'"),
])
def test_compare_errors(app: FastAPI, query: str, status: int, sentence: str) -> None:
    page = fetch(app, f"/compare?{query}")
    assert page.status_code == status
    assert sentence in text_of(page)


def test_compare_at_most_ten_runs(tmp_path: Path) -> None:
    project, _ = init_project(tmp_path)
    store = open_store(project)
    try:
        for i in range(11):
            with store.db.write() as tx:
                run_store.create_run(tx, store.project_id, status="finished", params={"i": i})
        app = make_app(project, store)
        page = fetch(app, "/compare?runs=" + ",".join(str(i) for i in range(1, 12)))
        assert page.status_code == 400
        assert "compare at most 10 runs at a time; 11 were given" in text_of(page)
        assert fetch(app, "/compare?runs=" + ",".join(map(str, range(1, 11)))).status_code == 200
    finally:
        store.close()


def test_compare_without_runs_explains_how(app: FastAPI) -> None:
    page = fetch(app, "/compare")
    assert page.status_code == 200
    assert "Pick 2 to 10 runs" in text_of(page)


# -- leaderboard -------------------------------------------------------------------------------
def test_leaderboard_ranks_by_the_chosen_metric(app: FastAPI) -> None:
    acc = fetch(app, "/leaderboard?metric=acc")
    assert acc.status_code == 200
    numbers = [int(n) for n in re.findall(r'<td class="num"><a href="/runs/(\d+)">', acc.text)]
    assert numbers[0] == 2 and numbers[-1] == 3 and 5 not in numbers
    assert "highest first" in text_of(acc)
    loss = fetch(app, "/leaderboard?metric=loss")  # a loss: lowest is best unless told
    assert "lowest first" in text_of(loss)
    numbers = [int(n) for n in re.findall(r'<td class="num"><a href="/runs/(\d+)">', loss.text)]
    assert numbers[0] == 2
    flipped = fetch(app, "/leaderboard?metric=loss&mode=max")
    numbers = [int(n) for n in re.findall(r'<td class="num"><a href="/runs/(\d+)">', flipped.text)]
    assert numbers[0] == 3
    finished = fetch(app, "/leaderboard?metric=acc&filter=" + quote("status = failed"))
    numbers = [int(n) for n in re.findall(r'<td class="num"><a href="/runs/(\d+)">', finished.text)]
    assert numbers == [3]


def test_leaderboard_errors(app: FastAPI) -> None:
    bad = fetch(app, "/leaderboard?metric=acc&filter=" + quote("status = = x"))
    assert bad.status_code == 400
    assert "column" in text_of(bad)
    mode = fetch(app, "/leaderboard?metric=acc&mode=best")
    assert mode.status_code == 400
    assert "mode must be max or min" in text_of(mode)
    unknown = fetch(app, "/leaderboard?metric=nothing")
    assert unknown.status_code == 200
    assert "has a value for nothing" in text_of(unknown)


def test_static_files_are_served(app: FastAPI) -> None:
    for name in ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css", "cairn.js", "cairn.css"):
        got = fetch(app, f"/static/{name}")
        assert got.status_code == 200 and len(got.content) > 1000, name


def test_series_data_follows_new_points(app: FastAPI, seeded: Seeded) -> None:
    from cairn.store.metrics import write_series
    from tests.ui.seed import series

    with seeded.store.db.write() as tx:
        run = run_store.create_run(tx, seeded.store.project_id, name="growing", status="running")
    with seeded.store.db.write() as tx:
        write_series(tx, run.id, {"loss": series(10, float)})
    url = f"/ui/data/series?run={run.number}&key=loss"
    assert fetch(app, url).json()["runs"][0]["series"]["loss"]["count"] == 10
    more = series(25, float)
    del more.steps[:10], more.values[:10], more.times[:10]
    with seeded.store.db.write() as tx:
        write_series(tx, run.id, {"loss": more})
    again = fetch(app, url).json()["runs"][0]["series"]["loss"]
    assert again["count"] == 25 and again["steps"][-1] == 24


def test_the_server_app_serves_the_pages(seeded: Seeded) -> None:
    from cairn.server.app import create_app

    app = create_app(seeded.project, auth=False)
    assert row_numbers(fetch(app, "/runs").text)[-5:] == [5, 4, 3, 2, 1]
    assert "Run 1 · baseline" in text_of(fetch(app, "/runs/1"))
    assert fetch(app, "/static/uPlot.iife.min.js").status_code == 200
    assert fetch(app, "/ui/data/series?run=1&key=acc").json()["runs"][0]["number"] == 1
