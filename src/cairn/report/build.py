"""``cairn report``: runs' params, metrics, charts and differences as one self-contained file.

The file is for sharing by mail or chat when there is no server, so it loads nothing: the
stylesheet, the chart library (uPlot) and the chart script are inlined, and the metric
series are embedded as JSON, downsampled to ``REPORT_POINTS`` per series (minimum and maximum
kept). It reuses the web UI's data (``server/ui/compare.gather``), stylesheet, chart script
and template macros, so a report reads like the compare page.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput, PermissionDenied
from cairn.objects.base import ObjectStore
from cairn.project import Project
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.resolve import resolve_run

MAX_RUNS = 10
REPORT_POINTS = 1000
TEMPLATES_DIR = Path(__file__).parent / "templates"
_INLINE_CSS = ("uPlot.min.css", "cairn.css")
_INLINE_JS = ("uPlot.iife.min.js", "cairn.js")


def resolve_report_runs(store: MetaStore, refs: Sequence[str]) -> list[run_store.RunRow]:
    """The named runs, each once, in the order given (the first is the baseline)."""
    if not refs:
        raise InvalidInput("name at least one run to report on",
                           hint="cairn report 1 2 -o report.html")
    runs: list[run_store.RunRow] = []
    for ref in refs:
        run = resolve_run(store, ref)
        if all(r.id != run.id for r in runs):
            runs.append(run)
    if len(runs) > MAX_RUNS:
        raise InvalidInput(f"a report holds at most {MAX_RUNS} runs; {len(runs)} were given")
    return runs


def _asset(name: str) -> str:
    """A static file of the web UI, checked to be safe to inline in a <script>/<style>."""
    from cairn.pages.templating import STATIC_DIR

    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    if name == "uPlot.iife.min.js":
        # The banner names the library's home page; the report carries its licence instead.
        text = "\n".join(line for line in text.splitlines() if not line.startswith("/*! http"))
        licence = (STATIC_DIR / "LICENSE-uplot.txt").read_text(encoding="utf-8")
        text = f"/*! uPlot 1.6.32\n{licence.replace('*/', '* /')}*/\n{text}"
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered:
        raise RuntimeError(f"{name} cannot be inlined: it closes its own element")
    return text


def _series(store: MetaStore, runs: Sequence[run_store.RunRow], keys: Sequence[str]
            ) -> dict[str, Any]:
    """The charts' data, in the shape of the UI's ``/ui/data/series`` answer."""
    from cairn.history.downsample import thinned_series
    from cairn.store.metrics import point_counts

    out = []
    for run in runs:
        counts = point_counts(store, run.id)
        series = {key: thinned_series(store, run.id, key, counts[key], REPORT_POINTS)
                  for key in keys if counts.get(key)}
        out.append({"id": run.id, "number": run.number, "status": run.status,
                    "series": series})
    return {"runs": out}


def build_report(store: MetaStore, project: Project, objects: ObjectStore,
                 runs: Sequence[run_store.RunRow], *, now: datetime | None = None) -> str:
    """The report's HTML for ``runs`` (one to ten)."""
    from markupsafe import Markup

    from cairn.history.compare import gather
    from cairn.pages.templating import TEMPLATES_DIR as UI_TEMPLATES
    from cairn.pages.templating import make_environment

    data = gather(store, project, objects, runs, root=None)
    charts = _series(store, runs, data.chart_keys)
    chart_runs = [{"id": r.id, "label": f"run {r.number}", "color": data.colors[i]}
                  for i, r in enumerate(runs)]
    env = make_environment([TEMPLATES_DIR, UI_TEMPLATES])
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    numbers = ", ".join(str(r.number) for r in runs)
    title = f"cairn report · run{'s' if len(runs) > 1 else ''} {numbers} · {store.project_name}"
    return env.get_template("report.html").render(
        title=title, data=data, charts=charts, chart_runs=chart_runs, generated=stamp, root="",
        project_name=store.project_name,
        css=Markup("\n".join(_asset(n) for n in _INLINE_CSS)),
        js=Markup("\n;\n".join(_asset(n) for n in _INLINE_JS)),
    )


def check_output(output: Path) -> Path:
    """The file to write, refused before any work when it cannot be written there."""
    target = output.expanduser()
    folder = target.parent
    if target.is_dir():
        raise InvalidInput(f"{output} is a folder; give a file name such as {output}/report.html")
    if not folder.is_dir():
        raise InvalidInput(f"the folder {folder} does not exist; create it or pick another -o")
    return target


def write_report(html: str, output: Path) -> Path:
    """Write ``html`` to ``output`` whole or not at all (a temporary file, then a rename)."""
    target = check_output(output)
    folder = target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cairn-report-", suffix=".html", dir=folder)
    except PermissionError as exc:
        raise PermissionDenied(f"cannot write in {folder}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(html)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, PermissionError):
            raise PermissionDenied(f"cannot write {output}: {exc.strerror}") from exc
        raise
    return target.resolve()
