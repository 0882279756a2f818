"""``cairn report``: one self-contained HTML file, made by the real command in a subprocess."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cairn.project import init_project
from cairn.store import runs as run_store
from cairn.store.core import open_store
from tests.conftest import cairn_cli
from tests.ui.browser import chromium, shot
from tests.ui.seed import Seeded, seed_project

# Anything that would make a browser fetch something: the report must have none of these.
LOADS = [
    re.compile(r"""<(?:script|img|iframe|embed|source|audio|video)\b[^>]*\bsrc\s*=""", re.I),
    re.compile(r"""<link\b""", re.I),
    re.compile(r"""\b(?:href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""url\(\s*["']?\s*(?:https?:)?//""", re.I),
    re.compile(r"""@import""", re.I),
    re.compile(r"""\bfetch\(\s*["'`]https?:""", re.I),
]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    data = seed_project(tmp_path_factory.mktemp("report") / "proj")
    yield data
    data.store.close()


def embedded_series(html: str) -> dict[str, Any]:
    match = re.search(r'<script type="application/json" id="cairn-series">(.*?)</script>', html,
                      re.S)
    assert match, "the report embeds its chart data"
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def test_report_of_three_runs_is_one_self_contained_file(seeded: Seeded) -> None:
    root = seeded.project.root
    done = cairn_cli("report", "1", "tuned", "3", "-o", "shared/report.html", cwd=root)
    assert done.returncode == 2  # the folder does not exist yet: refused before any work
    assert "the folder shared does not exist" in done.stderr
    (root / "shared").mkdir()
    done = cairn_cli("report", "1", "tuned", "3", "-o", "shared/report.html", cwd=root)
    assert done.returncode == 0, done.stderr
    out = root / "shared" / "report.html"
    assert f"wrote {out}" in done.stdout and "runs 1, 2, 3" in done.stdout
    html = out.read_text()
    for pattern in LOADS:
        assert not pattern.search(html), pattern.pattern
    assert "http://" not in html and "https://" not in html
    assert "var uPlot=" in html and "cairnGroups" in html  # the chart code is inline
    assert "Permission is hereby granted" in html  # with uPlot's licence
    # params and metrics of every run, differences marked
    assert '<tr class="diff">' in html
    assert '<td class="num changed">logreg</td>' in html
    assert "run 1 → run 2" in html and "run 1 → run 3" in html
    assert re.search(r"~ numpy \S+ → 2\.0\.0", html)
    assert 'class="parallel"' in html
    series = embedded_series(html)
    runs = series["runs"]
    assert [r["number"] for r in runs] == [1, 2, 3]
    loss = runs[0]["series"]["loss"]
    assert loss["count"] == 300 and len(loss["steps"]) == 300


def test_report_of_one_run(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "one.html"
    done = cairn_cli("report", "baseline", "-o", str(out), cwd=seeded.project.root)
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert "<h1>Run 1 · baseline</h1>" in html
    assert "run 1 →" not in html and 'class="parallel"' not in html
    assert [r["number"] for r in embedded_series(html)["runs"]] == [1]


@pytest.mark.parametrize(("args", "words"), [
    (["42"], "no run matches '42'"),
    (["1", "."], "is a folder"),
])
def test_report_errors_leave_the_old_file_alone(seeded: Seeded, tmp_path: Path,
                                                args: list[str], words: str) -> None:
    out = tmp_path / "report.html"
    out.write_text("the previous report")
    target = str(tmp_path) if args[-1] == "." else str(out)
    done = cairn_cli("report", *args[:1], "-o", target, cwd=seeded.project.root)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2  # one sentence (and a hint)
    assert out.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no stray temporary file


def test_a_report_holds_at_most_ten_runs(tmp_path: Path) -> None:
    project, _ = init_project(tmp_path)
    store = open_store(project)
    for i in range(11):
        with store.db.write() as tx:
            run_store.create_run(tx, store.project_id, status="finished", params={"i": i})
    store.close()
    refs = [str(i) for i in range(1, 12)]
    done = cairn_cli("report", *refs, "-o", "r.html", cwd=tmp_path)
    assert done.returncode == 2
    assert "a report holds at most 10 runs; 11 were given" in done.stderr
    assert not (tmp_path / "r.html").exists()
    assert cairn_cli("report", *refs[:10], "-o", "r.html", cwd=tmp_path).returncode == 0


def test_an_existing_report_is_replaced(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("old")
    assert cairn_cli("report", "1", "2", "-o", str(out), cwd=seeded.project.root).returncode == 0
    assert out.read_text().startswith("<!doctype html>")


def test_the_report_opens_offline_in_chromium_with_its_charts(seeded: Seeded,
                                                              tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = cairn_cli("report", "1", "2", "3", "-o", str(out), cwd=seeded.project.root)
    assert done.returncode == 0, done.stderr
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1440, "height": 900},
                                      offline=True)
        page = context.new_page()
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            "file:") else route.abort())
        page.goto(out.as_uri())
        page.wait_for_selector("[data-charts][data-drawn='1']")
        assert requests == [out.as_uri()]  # nothing else was asked for
        assert errors == []
        assert page.locator(".chart canvas").count() == 2
        painted = page.evaluate("""() => {
            const c = document.querySelector('.chart[data-key="loss"] canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }""")
        assert painted > 1000
        assert page.evaluate("cairnGroups[0].charts.loss.chart.series.length") == 4  # x + 3 runs
        page.select_option("select[data-x]", "elapsed")
        assert page.evaluate("cairnGroups[0].charts.loss.chart.series[0].label") == "seconds"
        page.select_option("select[data-x]", "step")
        assert "run 1 → run 3" in page.inner_text("body")
        shot(page, "report")
        context.close()
