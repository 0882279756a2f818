"""The web UI over a big store, measured in Chromium: runs-page first paint and a long chart.

    .venv/bin/python -m benchmarks.ui_paint [--runs 100000] [--points 1000000] [--repeat 5]

Fills a fresh project with ``--runs`` runs by bulk SQL (three params and two metrics each),
adds one run with a ``--points``-point metric through the store, serves the UI with uvicorn
on 127.0.0.1 and drives Debian's Chromium with Playwright. Prints the first contentful paint
of the runs page (plain, filtered, sorted by a metric, a deep page) and the time to fetch the
downsampled series and draw the chart. Targets: first paint <= 1 s over 100,000 runs; a
1,000,000-point chart drawn in <= 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import socket
import statistics
import tempfile
import threading
import time
from array import array
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


def fill(store: Any, runs: int) -> float:
    """Insert ``runs`` finished runs in one transaction; returns the seconds it took."""
    start = time.perf_counter()
    now = int(time.time() * 1000) - runs * 1000
    rng = random.Random(7)
    record = json.dumps({"code": {"kind": "git", "commit": "ab" * 20}, "source": "run"})
    run_rows, param_rows, metric_rows = [], [], []
    for i in range(1, runs + 1):
        rid = f"{now + i * 1000:012x}{i:020x}"
        t = now + i * 1000
        run_rows.append((rid, store.project_id, i, f"run-{i}", "finished", t, t + 900, 0,
                         "bench", record))
        lr = rng.choice((0.1, 0.03, 0.01, 0.003))
        param_rows += [(rid, "lr", json.dumps(lr), lr), (rid, "depth", str(i % 9), i % 9),
                       (rid, "model", json.dumps(rng.choice(("rf", "gb", "lr"))), None)]
        acc = rng.random()
        metric_rows += [(rid, "acc", 99, acc, t, 100), (rid, "loss", 99, 1 - acc, t, 100)]
    with store.db.write() as w:
        w.executemany("INSERT INTO runs (id, project_id, number, name, status, started_at, "
                      "ended_at, exit_code, created_by, record) VALUES (?, ?, ?, ?, ?, ?, ?, "
                      "?, ?, ?)", run_rows)
        w.executemany("INSERT INTO params (run_id, key, value, num) VALUES (?, ?, ?, ?)",
                      param_rows)
        w.executemany("INSERT INTO latest_metrics (run_id, key, step, value, time, count) "
                      "VALUES (?, ?, ?, ?, ?, ?)", metric_rows)
    return time.perf_counter() - start


def long_run(store: Any, points: int) -> int:
    from cairn.store import runs as run_store
    from cairn.store.metrics import write_series
    from cairn.store.series import Series

    t0 = int(time.time() * 1000)
    with store.db.write() as tx:
        run = run_store.create_run(tx, store.project_id, name="long", status="finished")
        write_series(tx, run.id, {"loss": Series(
            array("q", range(points)),
            array("d", (math.exp(-i / (points / 5)) + 0.1 * math.sin(i / 500)
                        for i in range(points))),
            array("q", range(t0, t0 + points)),
        )})
    return run.number


def serve(app: Any) -> tuple[str, Any, threading.Thread]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server, thread


FCP = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return {fcp: fcp ? fcp.startTime : null, response: nav.responseEnd - nav.requestStart,
            start: nav.requestStart, dcl: nav.domContentLoadedEventEnd,
            rows: document.querySelectorAll('#runs-table tbody tr, #board tbody tr').length};
}"""


def measure_page(browser: Any, url: str, repeat: int) -> list[dict[str, float]]:
    out = []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(url, wait_until="load")
        page.wait_for_function("() => performance.getEntriesByName('first-contentful-paint')"
                               ".length > 0")
        out.append(page.evaluate(FCP))
        if os.environ.get("CAIRN_BENCH_DEBUG"):
            print("   ", {k: round(v) for k, v in out[-1].items()})
        context.close()
    return out


def measure_chart(browser: Any, url: str, repeat: int) -> list[dict[str, float]]:
    out = []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("[data-charts][data-drawn='1']", timeout=60_000)
        out.append(page.evaluate("window.cairnTimings[0]"))
        context.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from fastapi import FastAPI
    from playwright.sync_api import sync_playwright

    from cairn.objects.local import LocalObjectStore
    from cairn.project import init_project
    from cairn.server.ui.routes import mount_static, router
    from cairn.store.core import open_store

    with tempfile.TemporaryDirectory(prefix="cairn-ui-bench-") as tmp:
        os.environ.pop("CAIRN_DB", None)
        project, _ = init_project(Path(tmp))
        store = open_store(project, name="bench")
        filled = fill(store, args.runs)
        number = long_run(store, args.points)
        print(f"filled {args.runs:,} runs in {filled:.1f} s; run {number} has "
              f"{args.points:,} points")
        app = FastAPI()
        app.state.project, app.state.store = project, store
        app.state.objects = LocalObjectStore(project.objects_dir)
        app.include_router(router)
        mount_static(app)
        base, server, thread = serve(app)
        pages = {
            "runs page": "/runs",
            "filter metrics.acc > 0.5": "/runs?filter=metrics.acc+%3E+0.5",
            "sorted by -metrics.acc": "/runs?sort=-metrics.acc",
            "page 1,000 of 2,000": "/runs?page=1000",
            "leaderboard acc": "/leaderboard?metric=acc",
        }
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=CHROMIUM_ARGS)
                print(f"\n{'page':<28}{'first paint (median)':>22}{'worst':>9}"
                      f"{'server':>10}{'rows':>6}")
                for label, path in pages.items():
                    got = measure_page(browser, base + path, args.repeat)
                    fcp = [g["fcp"] for g in got]
                    print(f"{label:<28}{statistics.median(fcp):>19.0f} ms{max(fcp):>6.0f} ms"
                          f"{statistics.median(g['response'] for g in got):>7.0f} ms"
                          f"{int(got[0]['rows']):>6}")
                charts = measure_chart(browser, f"{base}/runs/{number}", args.repeat)
                print(f"\n{args.points:,}-point chart: {charts[0]['points']:,} points sent")
                for i, c in enumerate(charts):
                    kind = "first (cold server)" if i == 0 else f"repeat {i}"
                    print(f"  {kind:<22} fetch {c['fetch_ms']:>5.0f} ms (on the server "
                          f"{c.get('series_ms', 0):>4.0f} ms), draw {c['draw_ms']:>4.0f} ms, "
                          f"total {c['total_ms']:>5.0f} ms")
                warm = [c["total_ms"] for c in charts[1:]] or [charts[0]["total_ms"]]
                print(f"  median after the first: {statistics.median(warm):.0f} ms")
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            store.close()


if __name__ == "__main__":
    main()
