"""The web UI's routes: the pages, and the few small endpoints under ``/ui/`` they call.

Pages: ``/`` and ``/runs`` (the runs table), ``/runs/{ref}``, ``/compare?runs=1,2,3`` and
``/leaderboard?metric=K``. Under ``/ui/``: chart data (``/ui/data/series``, downsampled on
the server), live fragments for a running run, and downloads of a run's declared files and
log. The app factory includes ``router`` and calls ``mount_static(app)``; it sets
``app.state.store`` (a ``MetaStore``), ``app.state.project`` and ``app.state.objects``.

Pages read the store through ``history/`` and ``store/`` directly, never through the HTTP API.
A user error renders as a page with one sentence and its HTTP status (JSON for ``/ui/data``).
Handlers are plain functions, so FastAPI runs them in its thread pool and a slow query never
blocks the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.responses import StreamingResponse

from cairn._util.jsonsafe import clean
from cairn.errors import CairnError, InvalidInput, NotFound
from cairn.history import compare
from cairn.history.downsample import check_max_points, thinned_series
from cairn.history.leaderboard import leaderboard
from cairn.objects.base import ObjectStore
from cairn.pages.graphs import GraphNode, lineage_svg
from cairn.pages.templating import STATIC_DIR, render
from cairn.project import Project
from cairn.server.auth import signed_in_as
from cairn.server.ui import views
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.resolve import resolve_run

if TYPE_CHECKING:
    from fastapi import FastAPI

router = APIRouter(include_in_schema=False)

STOP_POLLING = 286  # htmx stops an `every Ns` trigger on this status
MAX_SERIES_KEYS = 200
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
Strs = Annotated[list[str], Query()]


def mount_static(app: FastAPI) -> None:
    """Serve the vendored htmx and uPlot files and cairn's own CSS and JS at ``/static``."""
    from starlette.staticfiles import StaticFiles

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


@dataclass(frozen=True)
class _App:
    store: MetaStore
    project: Project
    objects: ObjectStore
    root: str


def _app(request: Request) -> _App:
    state = request.app.state
    return _App(state.store, state.project, state.objects,
                str(request.scope.get("root_path", "")).rstrip("/"))


# -- responses ---------------------------------------------------------------------------------
def _html(request: Request, template: str, status: int = 200,
          headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    app = _app(request)
    body = render(template, root=app.root, project_name=app.store.project_name,
                  signed_in=signed_in_as(request), **context)
    all_headers = {"Content-Security-Policy": CSP, "Vary": "HX-Request, HX-Target",
                   **(headers or {})}
    return HTMLResponse(body, status_code=status, headers=all_headers)


def _page(request: Request, build: Callable[[], Response]) -> Response:
    """Run ``build``; a ``CairnError`` becomes an error page with its status."""
    try:
        return build()
    except CairnError as exc:
        return _html(request, "error.html", status=exc.http_status, error=exc)


def _json_error(exc: CairnError) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}},
                        status_code=exc.http_status)


def _partial(request: Request, target: str) -> bool:
    """True for an htmx request that swaps only ``#target`` (not a history restore)."""
    h = request.headers
    return (h.get("HX-Request") == "true" and h.get("HX-Target") == target
            and h.get("HX-History-Restore-Request") != "true")


def _reap(store: MetaStore) -> None:
    try:
        run_store.reap_crashed(store)
    except CairnError:
        pass  # a read-only or busy store still shows its runs


def _attachment(name: str) -> str:
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\' else "_" for ch in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


def _stream(reader: BinaryIO, size: int | None, headers: dict[str, str],
            media_type: str) -> StreamingResponse:
    def chunks() -> Iterator[bytes]:
        with reader:
            while chunk := reader.read(1 << 20):
                yield chunk

    all_headers = {"X-Content-Type-Options": "nosniff", **headers}
    if size is not None:
        all_headers["Content-Length"] = str(size)
    return StreamingResponse(chunks(), media_type=media_type, headers=all_headers)


# -- runs table --------------------------------------------------------------------------------
def _query(filter_expr: str, sort: str, per_page: int, cols: list[str], chosen: bool
           ) -> Callable[..., str]:
    """A builder of ``?…`` links that keep the current filter, sort, size and columns."""
    def url(auto: bool = False, **changes: Any) -> str:
        params: dict[str, Any] = {"filter": filter_expr, "sort": sort, "n": per_page, "page": 1}
        params.update(changes)
        pairs = [(k, v) for k, v in params.items() if v not in ("", None)
                 and not (k == "n" and v == views.PER_PAGE) and not (k == "page" and v == 1)]
        if chosen and not auto:
            pairs += [("cols", "chosen"), *(("col", c) for c in cols)]
        return "?" + urlencode(pairs) if pairs else "?"
    return url


@router.get("/", response_class=HTMLResponse)
@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, filter_expr: Annotated[str, Query(alias="filter")] = "",
              sort: str = "", page: str | None = None, n: str | None = None,
              col: Strs = [], cols: str = "") -> Response:  # noqa: B006
    """The runs table; ``col`` names its columns when ``cols=chosen``, else they vary."""
    def build() -> Response:
        app = _app(request)
        page_no = views.positive_int(page, "page", 1)
        per_page = views.positive_int(n, "n", views.PER_PAGE, views.MAX_PER_PAGE)
        _reap(app.store)
        data = views.runs_page(app.store, filter_expr=filter_expr.strip(), sort=sort.strip(),
                               page=page_no, per_page=per_page,
                               columns=col if cols == "chosen" else None)
        url = _query(data.filter, data.sort, per_page, [c.field for c in data.columns],
                     data.chosen)
        template = "_runs.html" if _partial(request, "runs-area") else "runs.html"
        return _html(request, template, status=400 if data.error else 200, data=data, url=url,
                     cell=views.cell, sizes=(25, 50, 100, 200))
    return _page(request, build)


# -- one run -----------------------------------------------------------------------------------
def _graph_node(link: views.LineageLink | None, run: run_store.RunRow | None, root: str
                ) -> GraphNode:
    if run is None:
        rid = link.run_id if link else "?"
        return GraphNode(f"run {rid[:8]}", "not in this store", None)
    title = f"run {run.number}" + (f" · {run.name}" if run.name else "")
    return GraphNode(title, run.status, f"{root}/runs/{run.number}", run.status, run.verdict)


@router.get("/runs/{ref}", response_class=HTMLResponse)
def run_page(request: Request, ref: str) -> Response:
    def build() -> Response:
        app = _app(request)
        run = resolve_run(app.store, ref)
        if run.status == "running":
            _reap(app.store)  # a run whose process died reads crashed, not running
            run = run_store.get_run(app.store, run.id)
        data = views.run_page(app.store, app.project, app.objects, run)
        graph = ""
        if data.upstream or data.downstream:
            graph = lineage_svg(
                _graph_node(None, data.run, app.root),
                [(ln.relation, _graph_node(ln, ln.run, app.root)) for ln in data.upstream],
                [(ln.relation, _graph_node(ln, ln.run, app.root)) for ln in data.downstream],
            )
        return _html(request, "run.html", data=data, run=data.run, info=data.info, graph=graph)
    return _page(request, build)


@router.get("/ui/runs/{ref}/live", response_class=HTMLResponse)
def run_live(request: Request, ref: str) -> Response:
    """The run's status line, polled while it runs; the page reloads once it has ended."""
    def build() -> Response:
        app = _app(request)
        _reap(app.store)
        run = resolve_run(app.store, ref)
        if run.status == "running":
            return _html(request, "_run_status.html", run=run)
        return _html(request, "_run_status.html", status=STOP_POLLING,
                     headers={"HX-Refresh": "true"}, run=run)
    return _page(request, build)


@router.get("/ui/runs/{ref}/log-tail", response_class=HTMLResponse)
def run_log_tail(request: Request, ref: str) -> Response:
    def build() -> Response:
        app = _app(request)
        run = resolve_run(app.store, ref)
        log, cut = views.log_tail(app.project, app.store, run)
        status = 200 if run.status == "running" else STOP_POLLING
        return _html(request, "_log.html", status=status, run=run, log=log, cut=cut)
    return _page(request, build)


@router.get("/ui/runs/{ref}/log")
def run_log(request: Request, ref: str) -> Response:
    """The whole output of a run as text (the live file while it runs)."""
    def build() -> Response:
        from cairn.history.logs import live_log_path
        from cairn.store.artifacts import list_artifacts

        app = _app(request)
        run = resolve_run(app.store, ref)
        headers = {"Content-Disposition": f'inline; filename="run-{run.number}.log"'}
        media = "text/plain; charset=utf-8"
        for art in list_artifacts(app.store, run.id, "log"):
            return _stream(app.objects.open(art.oid), app.objects.size(art.oid), headers, media)
        live = live_log_path(app.project, run.id)
        if live.exists():
            return _stream(open(live, "rb"), None, headers, media)
        raise NotFound(f"run {run.number} has no output log")
    return _page(request, build)


@router.get("/ui/runs/{ref}/files/{kind}/{path:path}")
def run_file(request: Request, ref: str, kind: str, path: str) -> Response:
    """Download one declared file of a run, or one file inside a declared folder."""
    def build() -> Response:
        from cairn.objects.tree import read_tree
        from cairn.store.artifacts import KINDS, list_artifacts

        app = _app(request)
        if kind not in KINDS:
            raise InvalidInput(f"unknown kind of file {kind!r}; expected one of "
                               f"{', '.join(KINDS)}")
        run = resolve_run(app.store, ref)
        name = path.rsplit("/", 1)[-1] or path
        for art in list_artifacts(app.store, run.id, kind):
            oid = None
            if art.path == path and not art.is_tree:
                oid = art.oid
            elif art.path == path:
                raise InvalidInput(f"{path} is a folder; download the files inside it")
            elif art.is_tree and path.startswith(art.path.rstrip("/") + "/"):
                inner = path[len(art.path.rstrip("/")) + 1:]
                found = [e for e in read_tree(app.objects, art.oid).entries if e.path == inner]
                oid = found[0].oid if found and not found[0].is_link else None
            if oid is not None:
                return _stream(app.objects.open(oid), app.objects.size(oid),
                               {"Content-Disposition": _attachment(name)},
                               "application/octet-stream")
        raise NotFound(f"run {run.number} has no {kind} file {path!r}")
    return _page(request, build)


# -- chart data --------------------------------------------------------------------------------
def _float_or_none(text: str | None, name: str) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a number, not {text!r}") from None


@router.get("/ui/data/series")
def series_data(request: Request, run: Strs = [], key: Strs = [],  # noqa: B006
                max_points: str = "1000", step_min: str | None = None,
                step_max: str | None = None) -> JSONResponse:
    """Metric history for charts, at most ``max_points`` per series (min and max kept).

    Thin on purpose: the REST API's ``/api/v1/runs/{id}/metrics/{key}?max_points=N`` serves
    the same for other clients.
    """
    from cairn.store.metrics import point_counts

    started = time.perf_counter()
    try:
        app = _app(request)
        refs = compare.split_refs(run)
        if not refs:
            raise InvalidInput("name at least one run (run=7)")
        if len(refs) > compare.MAX_RUNS:
            raise InvalidInput(f"ask for at most {compare.MAX_RUNS} runs at a time")
        limit = check_max_points(views.positive_int(max_points, "max_points", 1000))
        lo, hi = _float_or_none(step_min, "step_min"), _float_or_none(step_max, "step_max")
        out = []
        for ref in refs:
            row = resolve_run(app.store, ref)
            counts = point_counts(app.store, row.id)
            keys = [k for k in key if k in counts] if key else sorted(counts)
            series = {k: thinned_series(app.store, row.id, k, counts[k], limit, lo, hi)
                      for k in keys[:MAX_SERIES_KEYS]}
            out.append({"id": row.id, "number": row.number, "status": row.status,
                        "series": series})
    except CairnError as exc:
        return _json_error(exc)
    timing = f"series;dur={(time.perf_counter() - started) * 1000:.1f}"
    return JSONResponse(clean({"runs": out}), headers={"Server-Timing": timing})


# -- compare and leaderboard -------------------------------------------------------------------
@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, runs: Strs = [],  # noqa: B006
                 metric: str | None = None) -> Response:
    def build() -> Response:
        app = _app(request)
        refs = compare.split_refs(runs)
        if not refs:
            return _html(request, "compare.html", data=None, refs="")
        data = compare.compare_page(app.store, app.project, app.objects, refs, metric or None,
                                    app.root)
        return _html(request, "compare.html", data=data, refs=",".join(refs))
    return _page(request, build)


@router.get("/ui/compare/parallel", response_class=HTMLResponse)
def compare_parallel(request: Request, runs: Strs = [],  # noqa: B006
                     metric: str | None = None) -> Response:
    def build() -> Response:
        app = _app(request)
        chosen = compare.resolve_runs(app.store, compare.split_refs(runs))
        svg, _metric, _keys = compare.parallel_for(app.store, chosen, metric or None, app.root)
        return _html(request, "_fragment.html", markup=svg)
    return _page(request, build)


@router.get("/leaderboard", response_class=HTMLResponse)
def leaderboard_page(request: Request, metric: str | None = None, mode: str | None = None,
                     filter_expr: Annotated[str, Query(alias="filter")] = "") -> Response:
    def build() -> Response:
        app = _app(request)
        board = leaderboard(app.store, metric=metric or None, mode=mode or None,
                                  filter_expr=filter_expr.strip())
        template = "_leaderboard.html" if _partial(request, "board") else "leaderboard.html"
        return _html(request, template, status=400 if board.error else 200, board=board)
    return _page(request, build)
