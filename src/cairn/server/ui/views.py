"""Data for the runs and run pages, gathered through ``history/`` and ``store/``.

Each function returns plain values for one template and never renders HTML itself (the
SVG drawings live in ``graphs.py``). Listings always go through ``history.listing`` with a
``LIMIT``, so a page over 100,000 runs reads one page of rows, never all of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from cairn.errors import FilterSyntaxError, InvalidInput, NotFound
from cairn.history.describe import describe_run
from cairn.history.leaderboard import SYS_PREFIX
from cairn.history.listing import RunSummary, list_runs, varying_keys
from cairn.history.logs import log_bytes
from cairn.objects.base import ObjectStore
from cairn.project import Project
from cairn.store import runs as run_store
from cairn.store.artifacts import list_artifacts
from cairn.store.core import MetaStore
from cairn.store.filter_parse import field_text

PER_PAGE = 50
MAX_PER_PAGE = 500
MAX_AUTO_COLUMNS = 6
MAX_CHOOSER = 100  # columns offered in the chooser: the keys most runs on the page have
MAX_CHOSEN = 50
LOG_TAIL_BYTES = 256 * 1024
DIFF_MAX_LINES = 4000
TREE_MAX_FILES = 200
_FILE_KINDS = (("input", "inputs"), ("output", "outputs"), ("artifact", "artifacts"),
               ("model", "models"))
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


# -- columns and fields ------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    """A param or metric shown as a column of the runs table."""

    kind: str  # "params" or "metrics"
    key: str

    @property
    def field(self) -> str:
        return field_text(self.kind, self.key)


def parse_column(text: str) -> Column:
    kind, dot, key = text.partition(".")
    if kind not in ("params", "metrics") or not dot or not key:
        raise InvalidInput(f"a column is params.KEY or metrics.KEY, not {text!r}")
    if key.startswith("`") and key.endswith("`") and len(key) > 1:
        key = key[1:-1].replace("\\`", "`").replace("\\\\", "\\")
    return Column(kind, key)


def positive_int(text: str | None, name: str, default: int, maximum: int | None = None) -> int:
    """A whole number from a query string, with one readable sentence when it is not one."""
    if text is None or text.strip() == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number, not {text!r}") from None
    if value < 1:
        raise InvalidInput(f"{name} must be 1 or more, not {value}")
    return value if maximum is None else min(value, maximum)


# -- runs page ---------------------------------------------------------------------------------
@dataclass
class RunsPage:
    rows: list[RunSummary]
    total: int
    page: int
    per_page: int
    columns: list[Column]
    available: list[Column]
    filter: str
    sort: str
    chosen: bool
    error: FilterSyntaxError | None = None
    more_available: int = 0  # keys of the page's runs left out of the chooser

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


def runs_page(store: MetaStore, *, filter_expr: str = "", sort: str = "", page: int = 1,
              per_page: int = PER_PAGE, columns: list[str] | None = None) -> RunsPage:
    """One page of runs with the columns to show; a bad filter comes back as ``error``."""
    given = [c for c in columns or [] if c.strip()]
    if len(given) > MAX_CHOSEN:
        raise InvalidInput(f"a page shows at most {MAX_CHOSEN} chosen columns, not {len(given)}")
    chosen = list(dict.fromkeys(parse_column(c) for c in given))
    try:
        rows, total = list_runs(store, filter_expr=filter_expr or None, sort=sort or None,
                                limit=per_page, offset=(page - 1) * per_page)
    except FilterSyntaxError as exc:
        return RunsPage([], 0, page, per_page, chosen, chosen, filter_expr, sort, bool(chosen),
                        exc)
    available, more = _available_columns(rows, chosen)
    shown = chosen if chosen else _auto_columns(rows)
    return RunsPage(rows, total, page, per_page, shown, available, filter_expr, sort, bool(chosen),
                    more_available=more)


def _common_keys(dicts: list[dict[str, Any]], limit: int) -> list[str]:
    """The ``limit`` keys most of ``dicts`` have (ties by name), so one run with thousands
    of keys cannot make a page of every run megabytes long."""
    counts: dict[str, int] = {}
    for d in dicts:
        for k in d:
            counts[k] = counts.get(k, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))[:limit]


def _auto_columns(rows: list[RunSummary]) -> list[Column]:
    pool = 20 * MAX_AUTO_COLUMNS  # varying keys are looked for among the most common only
    metrics = [{k: r.metrics[k] for k in _common_keys([r.metrics for r in rows], pool)
                if k in r.metrics} for r in rows]
    params = [{k: r.params[k] for k in _common_keys([r.params for r in rows], pool)
               if k in r.params} for r in rows]
    plain = [k for k in varying_keys(metrics) if not k.startswith(SYS_PREFIX)]
    return ([Column("metrics", k) for k in plain[:MAX_AUTO_COLUMNS]]
            + [Column("params", k) for k in varying_keys(params)[:MAX_AUTO_COLUMNS]])


def _available_columns(rows: list[RunSummary], chosen: list[Column]
                       ) -> tuple[list[Column], int]:
    """Columns for the chooser (at most ``MAX_CHOOSER`` plus the chosen), and how many more."""
    on_page = {Column("metrics", k) for r in rows for k in r.metrics}
    on_page |= {Column("params", k) for r in rows for k in r.params}
    common = ([Column("metrics", k) for k in _common_keys([r.metrics for r in rows], MAX_CHOOSER)]
              + [Column("params", k) for k in _common_keys([r.params for r in rows],
                                                           MAX_CHOOSER)])
    offered = set(common[:MAX_CHOOSER]) | set(chosen)
    more = len(on_page - offered)
    ordered = sorted(offered, key=lambda c: (c.kind != "metrics", c.key.startswith(SYS_PREFIX),
                                             c.key))
    return ordered, more


def cell(summary: RunSummary, column: Column) -> Any:
    source = summary.metrics if column.kind == "metrics" else summary.params
    return source.get(column.key)


# -- run page ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileEntry:
    kind: str
    path: str
    oid: str
    size: int
    is_tree: bool
    files: tuple[tuple[str, int], ...] = ()  # (path inside the folder, size) when a tree
    more: int = 0  # files of the folder not listed


@dataclass(frozen=True)
class LineageLink:
    relation: str
    run_id: str
    run: run_store.RunRow | None  # None when the run is not in this store


@dataclass
class RunPage:
    run: run_store.RunRow
    info: dict[str, Any]
    chart_keys: list[str]
    sys_keys: list[str]
    diff: list[tuple[str, str]]
    diff_truncated: int
    log: str | None
    log_truncated: bool
    files: dict[str, list[FileEntry]]
    upstream: list[LineageLink]
    downstream: list[LineageLink]
    packages: list[tuple[str, str]] = field(default_factory=list)

    @property
    def plain_metrics(self) -> list[tuple[str, float]]:
        """Latest values of the metrics the run logged itself (not ``sys/*``)."""
        metrics: dict[str, float] = self.info["metrics"]
        return sorted((k, v) for k, v in metrics.items() if not k.startswith(SYS_PREFIX))


def run_page(store: MetaStore, project: Project, objects: ObjectStore,
             run: run_store.RunRow) -> RunPage:
    info = describe_run(store, run, objects)
    points: dict[str, int] = info["metric_points"]
    keys = sorted(points)
    diff, cut = diff_lines(info["code"].get("diff"))
    log, log_cut = log_tail(project, store, run)
    upstream = [
        LineageLink(rel, target, _maybe_run(store, target))
        for rel, target in info["lineage"].items() if target
    ]
    downstream = [
        LineageLink(c["relation"], c["id"], _maybe_run(store, c["id"])) for c in info["children"]
    ]
    packages = sorted((info["env"].get("packages") or {}).items())
    return RunPage(
        run=run, info=info,
        chart_keys=[k for k in keys if not k.startswith(SYS_PREFIX) and points[k] >= 2],
        sys_keys=[k for k in keys if k.startswith(SYS_PREFIX)],
        diff=diff, diff_truncated=cut, log=log, log_truncated=log_cut,
        files=run_files(store, objects, run.id), upstream=upstream, downstream=downstream,
        packages=[(str(k), str(v)) for k, v in packages],
    )


def _maybe_run(store: MetaStore, run_id: str) -> run_store.RunRow | None:
    try:
        return run_store.get_run(store, run_id)
    except NotFound:
        return None


def diff_lines(patch: str | None) -> tuple[list[tuple[str, str]], int]:
    """Lines of a unified diff with their kind (add, del, hunk, file, ctx); and how many cut."""
    if not patch:
        return [], 0
    lines = patch.splitlines()
    out: list[tuple[str, str]] = []
    for line in lines[:DIFF_MAX_LINES]:
        if line.startswith(("diff --git", "index ", "--- ", "+++ ", "new file", "deleted file",
                            "similarity", "rename ", "Binary files", "GIT binary patch")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out, max(0, len(lines) - DIFF_MAX_LINES)


def clean_log(data: bytes) -> str:
    """Terminal output as plain text: colour codes dropped, progress bars at their last state."""
    text = _ANSI.sub("", data.decode("utf-8", errors="replace"))
    lines = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if "\r" in line:
            line = next((part for part in reversed(line.split("\r")) if part), "")
        lines.append(line)
    return "\n".join(lines)


def log_tail(project: Project, store: MetaStore, run: run_store.RunRow) -> tuple[str | None, bool]:
    data = log_bytes(project, store, run)
    if data is None:
        return None, False
    cut = len(data) > LOG_TAIL_BYTES
    if cut:
        data = data[-LOG_TAIL_BYTES:]
        data = data[data.find(b"\n") + 1:]
    return clean_log(data), cut


def run_files(store: MetaStore, objects: ObjectStore, run_id: str) -> dict[str, list[FileEntry]]:
    """Declared inputs, outputs, artifacts and models; folders listed file by file."""
    from cairn.objects.tree import read_tree

    out: dict[str, list[FileEntry]] = {label: [] for _kind, label in _FILE_KINDS}
    labels = dict(_FILE_KINDS)
    for art in list_artifacts(store, run_id):
        if art.kind not in labels:
            continue
        entry = FileEntry(art.kind, art.path, art.oid, art.size, art.is_tree)
        if art.is_tree:
            try:
                tree = read_tree(objects, art.oid)
            except Exception:  # a missing or damaged manifest: show the folder, not its files
                tree = None
            if tree is not None:
                listed = tuple((e.path, e.size) for e in tree.entries[:TREE_MAX_FILES])
                entry = FileEntry(art.kind, art.path, art.oid, art.size, True, listed,
                                  max(0, tree.count - TREE_MAX_FILES))
        out[labels[art.kind]].append(entry)
    return out
