"""The web UI in a real Chromium, against a real uvicorn server on 127.0.0.1.

The tests click through the pages as a user would and save screenshots under
test-artifacts/ui/. Timings are printed, never asserted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from cairn.store import runs as run_store
from cairn.store.metrics import write_series
from tests.ui.browser import chromium, serve, shot
from tests.ui.seed import Seeded, series

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

WAIT_MS = 15_000
EXPECTED_400 = "status of 400"  # a malformed filter is answered 400, on purpose


@pytest.fixture(scope="module")
def base_url(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error"
           and EXPECTED_400 not in msg.text else None)
    yield tab
    context.close()
    assert errors == [], f"script errors on the page: {errors}"


def rows(page: Page) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all(
        "#runs-table tbody input[name=runs]", "els => els.map(e => e.value)")]


def wait_rows(page: Page, expected: list[int]) -> None:
    page.wait_for_function(
        "want => JSON.stringify([...document.querySelectorAll("
        "'#runs-table tbody input[name=runs]')].map(e => +e.value)) === JSON.stringify(want)",
        arg=expected)


def chart_pixels(page: Page, key: str) -> int:
    """How many pixels of the chart's canvas are painted (not blank)."""
    return int(page.evaluate("""key => {
        const box = document.querySelector(`.chart[data-key="${key}"] canvas`);
        const data = box.getContext('2d').getImageData(0, 0, box.width, box.height).data;
        let painted = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
        return painted;
    }""", key))


def test_runs_table_filter_sort_and_compare(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/runs")
    assert rows(page)[:5] == [5, 4, 3, 2, 1]
    assert page.locator("#runs-table .badge.failed").count() == 1
    shot(page, "runs")

    page.click("details.columns summary")
    page.uncheck("details.columns input[value='metrics.loss']")
    page.click("details.columns button[value=chosen]")
    page.wait_for_function("() => location.search.includes('cols=chosen')")
    headers = page.eval_on_selector_all("#runs-table th a", "els => els.map(e => e.title)")
    assert "sort by metrics.loss" not in headers and "sort by metrics.acc" in headers

    page.fill("input[name=filter]", "params.model = rf and metrics.acc > 0.9")
    page.press("input[name=filter]", "Enter")
    wait_rows(page, [4, 2, 1])
    assert "filter=params.model" in page.url  # the filtered table has its own address
    assert "3 runs match" in page.inner_text("#runs-count")
    shot(page, "runs-filtered")

    page.click("#runs-table th a[title='sort by metrics.acc']")
    page.wait_for_function("() => location.search.includes('sort=-metrics.acc')")
    assert rows(page)[0] == 2

    page.fill("input[name=filter]", "metrics.acc >> 1")
    page.press("input[name=filter]", "Enter")
    error = page.locator("#runs-table .error-box")
    error.wait_for()
    assert "at column 14" in error.inner_text()
    shot(page, "runs-bad-filter")

    page.fill("input[name=filter]", "")
    page.press("input[name=filter]", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#runs-table tbody tr').length >= 5")
    assert page.is_disabled("#compare-button")
    for number in (1, 2, 3):
        page.check(f"#runs-table input[name=runs][value='{number}']")
    assert page.is_enabled("#compare-button")
    page.click("#compare-button")
    page.wait_for_url("**/compare?**")
    page.wait_for_selector("[data-charts][data-drawn='1']")
    assert page.locator(".chart canvas").count() >= 2
    assert chart_pixels(page, "loss") > 1000
    differing = page.locator("#compare-params tr.diff td.key").all_inner_texts()
    assert differing == ["depth", "lr", "model"]
    page.select_option("select[name=metric]", "loss")
    page.wait_for_function(
        "() => document.querySelector('#parallel svg').getAttribute('aria-label').endsWith('loss')")
    assert page.locator("#parallel .pc-line").count() == 3
    shot(page, "compare")


def test_run_page_charts_zoom_axes_and_smoothing(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/runs/1")
    page.wait_for_selector("#charts [data-charts][data-drawn='1']")
    page.wait_for_selector("#system [data-charts][data-drawn='1']")
    assert page.locator("#charts canvas").count() == 2
    assert page.locator("#system canvas").count() == 2
    assert chart_pixels(page, "loss") > 1000
    scale = "k => { const s = cairnGroups[0].charts[k].chart.scales.x; return [s.min, s.max]; }"
    assert page.evaluate(scale, "loss") == [0, 299]

    over = page.locator(".chart[data-key='loss'] .u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=8)
    page.mouse.up()
    low, high = page.evaluate(scale, "loss")
    assert 30 < low < high < 200  # zoomed in on the dragged range
    shot(page, "run-zoomed")
    over.dblclick()
    page.wait_for_function(f"() => ({scale})('loss')[1] === 299")

    page.select_option("#charts select[data-x]", "time")
    assert page.evaluate("cairnGroups[0].charts.loss.chart.series[0].label") == "time"
    page.eval_on_selector("#charts input[data-smooth]",
                          "el => { el.value = 0.9; el.dispatchEvent(new Event('input')); }")
    page.wait_for_function("() => cairnGroups[0].charts.loss.chart.series.length === 3")
    assert "run 1 raw" in page.inner_text(".chart[data-key='loss'] .u-legend")
    assert page.inner_text("#code-diff").count("+epochs = 3") == 1
    assert "progress 100%" in page.inner_text("#log")
    assert page.locator("svg.lineage a").count() >= 3
    shot(page, "run")


def test_running_run_updates_live_then_reloads_when_done(page: Page, base_url: str,
                                                         seeded: Seeded) -> None:
    with seeded.store.db.write() as tx:
        run = run_store.create_run(
            tx, seeded.store.project_id, name="training-now", status="running", pid=os.getpid(),
            params={"lr": 0.2},
        )
    with seeded.store.db.write() as tx:
        write_series(tx, run.id, {"loss": series(20, lambda i: 1 / (1 + i))})
    page.goto(f"{base_url}/runs/{run.number}")
    page.wait_for_selector("[data-charts][data-drawn='1']")
    assert page.evaluate("cairnGroups[0].charts.loss.chart.data[0].length") == 20
    assert page.locator("#run-status .badge.running").count() == 1

    more = series(60, lambda i: 1 / (1 + i))
    del more.steps[:20], more.values[:20], more.times[:20]
    with seeded.store.db.write() as tx:
        write_series(tx, run.id, {"loss": more})
    page.wait_for_function("() => cairnGroups[0].charts.loss.chart.data[0].length === 60")
    shot(page, "run-live")

    with seeded.store.db.write() as tx:
        run_store.finish_run(tx, run.id, "finished", exit_code=0)
    page.wait_for_selector("#run-status .badge.finished")  # the page reloaded once
    assert page.locator("[data-live]").count() == 0


def test_leaderboard_switches_metric(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/leaderboard")
    assert "highest first" in page.inner_text("#board")
    page.select_option("select[name=metric]", "loss")
    page.wait_for_function(
        "() => document.querySelector('#board').innerText.includes('lowest first')")
    first = page.locator("#board tbody tr").first.locator("td").nth(1).inner_text()
    assert first.strip() == "2"
    assert "metric=loss" in page.url
    shot(page, "leaderboard")


def test_a_million_point_metric_is_thinned_on_the_server(page: Page, base_url: str,
                                                         seeded: Seeded) -> None:
    with seeded.store.db.write() as tx:
        run = run_store.create_run(tx, seeded.store.project_id, name="long", status="finished")
    n = 1_000_000
    with seeded.store.db.write() as tx:
        write_series(tx, run.id, {
            "loss": series(n, lambda i: math.exp(-i / 200_000) + 0.1 * math.sin(i / 500),
                           every_ms=1),
        })
    page.goto(f"{base_url}/runs/{run.number}")
    page.wait_for_selector("[data-charts][data-drawn='1']")
    timing = page.evaluate("window.cairnTimings[0]")
    assert timing["points"] <= 4000
    assert page.inner_text(".chart[data-key='loss'] [data-points]") == "1,000,000 points"
    assert chart_pixels(page, "loss") > 1000
    print(f"\n1,000,000-point chart: {timing['points']} points sent, fetch "
          f"{timing['fetch_ms']:.0f} ms, draw {timing['draw_ms']:.0f} ms, "
          f"total {timing['total_ms']:.0f} ms")
    shot(page, "run-million-points")

    # Zooming in asks the server for the points of that range: detail appears.
    coarse = page.evaluate("cairnGroups[0].charts.loss.chart.data[0]")
    box = page.locator(".chart[data-key='loss'] .u-over").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.42, y, steps=5)
    page.mouse.up()
    page.wait_for_function("() => cairnGroups[0].charts.loss.detail === true")
    xs = page.evaluate("cairnGroups[0].charts.loss.chart.data[0]")
    assert 350_000 < xs[0] < xs[-1] < 450_000  # only the zoomed range came back
    before = [x for x in coarse if xs[0] <= x <= xs[-1]]
    assert len(xs) > 10 * len(before)  # far finer than the whole-series view
    shot(page, "run-million-points-zoomed")
