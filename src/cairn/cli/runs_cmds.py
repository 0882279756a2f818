"""Reading runs back: ``cairn ls``, ``cairn show``, ``cairn logs``."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from cairn._util.fmt import fmt_value
from cairn._util.text import displayable
from cairn.cli.opening import open_project
from cairn.cli.render import console, print_json
from cairn.errors import InvalidInput

if TYPE_CHECKING:
    from cairn.history.listing import RunSummary


@click.command()
@click.option("--filter", "-f", "filter_expr", metavar="EXPR",
              help="e.g. 'metrics.acc > 0.9 and params.model = rf and status = finished'")
@click.option("--sort", "-s", metavar="KEY", help="started_at, metrics.K, params.K, …; -KEY "
              "sorts descending (default: newest first)")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--all", "show_all", is_flag=True, help="List every matching run.")
@click.option("--columns", "-c", "columns", metavar="KEYS",
              help="Comma-separated columns to show, e.g. metrics.acc,params.lr (default: the "
              "most common metrics and the params that vary, as many as fit).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def ls(filter_expr: str | None, sort: str | None, limit: int, show_all: bool,
       columns: str | None, as_json: bool) -> None:
    """List runs, newest first, with the params and metrics that vary between them."""
    from cairn.history.listing import list_runs

    chosen = parse_columns(columns) if columns is not None else None
    _project, store = open_project()
    summaries, total = list_runs(store, filter_expr=filter_expr, sort=sort,
                                 limit=None if show_all else limit)
    if as_json:
        print_json([s.to_json() for s in summaries])
        return
    if not summaries:
        hint = "no run matches the filter" if filter_expr else "no runs yet: cairn run -- CMD"
        console().print(f"[dim]{hint}[/]")
        return
    import shutil

    from cairn.cli.table import use_color

    color = use_color()
    width = shutil.get_terminal_size((250, 24)).columns if color else int(
        os.environ.get("COLUMNS", "250"))
    table, hidden = runs_table(summaries, width, color, chosen)
    print(displayable(table))
    out = console()
    if hidden:
        out.print(f"[dim]{hidden:,} more columns not shown: choose with --columns "
                  f"metrics.K,params.K, or use --json[/]")
    if total > len(summaries):
        out.print(f"[dim]{len(summaries)} of {total} runs · --limit N or --all for more[/]")


MAX_CANDIDATES = 60  # metric and param columns considered for the automatic choice
CELL_WIDTH = 16  # of a param's value, and of a column's header


def parse_columns(text: str) -> list[tuple[str, str]]:
    """``metrics.acc,params.lr`` as ``[("metrics", "acc"), ("params", "lr")]``."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        kind, dot, key = part.partition(".")
        if kind not in ("metrics", "params") or not dot or not key:
            raise InvalidInput(f"a column is metrics.KEY or params.KEY, not {part!r}")
        out.append((kind, key))
    return out


def _most_common(dicts: list[dict[str, Any]], limit: int, skip: str = "") -> list[str]:
    """Keys most of ``dicts`` hold, ties by name: one run with thousands of keys cannot fill
    the table, nor make it slow."""
    counts: dict[str, int] = {}
    for d in dicts:
        for k in d:
            if not (skip and k.startswith(skip)):
                counts[k] = counts.get(k, 0) + 1
    return sorted(counts, key=lambda k: (-counts[k], k))[:limit]


def runs_table(summaries: list[RunSummary], width: int, color: bool,
               chosen: list[tuple[str, str]] | None = None) -> tuple[str, int]:
    """The runs table with the ``chosen`` columns, or as many of the most common param and
    metric columns as fit in ``width``; and how many columns were left out."""
    from cairn._util.timefmt import ago, duration
    from cairn.cli.render import STATUS_STYLE
    from cairn.cli.table import Column, render
    from cairn.history.listing import varying_keys

    now = time.time_ns() // 1_000_000
    base = [
        Column("#", [str(s.run.number) for s in summaries], right=True, style="bold"),
        Column("name", [(s.run.name or "")[:24] for s in summaries]),
        Column("status", [s.run.status + (f" {s.run.verdict.lower()}" if s.run.verdict else "")
                          for s in summaries],
               cell_styles=[STATUS_STYLE.get(s.run.status, "") for s in summaries]),
        Column("started", [ago(s.run.started_at, now) for s in summaries]),
        Column("took", [duration(s.run.duration_s) for s in summaries], right=True),
    ]
    if any(s.commit for s in summaries):
        base.append(Column("commit", [
            (s.commit or "")[:7] + ("*" if s.run.record.code and s.run.record.code.dirty else "")
            for s in summaries], style="dim"))
    def metric_col(k: str) -> Column:
        return Column(k[:CELL_WIDTH], [fmt_value(s.metrics.get(k)) for s in summaries],
                      right=True, style="magenta")

    def param_col(k: str) -> Column:
        return Column(k[:CELL_WIDTH], [fmt_value(s.params.get(k))[:CELL_WIDTH]
                                       for s in summaries], right=True, style="cyan")

    if chosen is not None:
        picked = [metric_col(k) if kind == "metrics" else param_col(k) for kind, k in chosen]
        return render(base + picked, color=color), 0
    metric_dicts = [s.metrics for s in summaries]
    param_dicts = [s.params for s in summaries]
    all_keys = ({k for d in metric_dicts for k in d if not k.startswith("sys/")},
                {k for d in param_dicts for k in d})
    metric_keys = sorted(_most_common(metric_dicts, MAX_CANDIDATES, skip="sys/"))
    param_keys = _most_common(param_dicts, MAX_CANDIDATES)
    varying = varying_keys([{k: d[k] for k in param_keys if k in d} for d in param_dicts])
    extra = [metric_col(k) for k in metric_keys] + [param_col(k) for k in varying]
    # Columns left out: every other metric, the varying params, and params not looked at.
    total = len(all_keys[0]) + len(varying) + max(0, len(all_keys[1]) - MAX_CANDIDATES)
    used = sum(c.width + 2 for c in base)
    fitted = []
    for col in extra:
        if used + col.width + 2 <= width:
            fitted.append(col)
            used += col.width + 2
    return render(base + fitted, color=color), max(0, total - len(fitted))


@click.command()
@click.argument("run")
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON object.")
def show(run: str, as_json: bool) -> None:
    """Show everything recorded about RUN (a number, id prefix, name or 'last')."""
    from cairn.history.describe import describe_run
    from cairn.objects.local import LocalObjectStore
    from cairn.store.resolve import resolve_run

    project, store = open_project()
    row = resolve_run(store, run)
    info = describe_run(store, row, LocalObjectStore(project.objects_dir))
    if as_json:
        print_json(info)
        return
    from cairn.cli.show_view import render_show

    render_show(info)


@click.command()
@click.argument("run")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the run is running.")
def logs(run: str, follow: bool) -> None:
    """Print RUN's stdout/stderr as it was recorded."""
    from cairn.history.logs import follow_log, log_bytes
    from cairn.store.resolve import resolve_run

    project, store = open_project()
    row = resolve_run(store, run)
    out = sys.stdout.buffer
    if follow:
        for chunk in follow_log(project, store, row):
            out.write(chunk)
            out.flush()
        return
    data = log_bytes(project, store, row)
    if data is None:
        print(f"cairn: run {row.number} has no recorded output", file=sys.stderr)
        return
    out.write(data)
    out.flush()


def metric_line(metrics: dict[str, Any], limit: int = 4) -> str:
    """``acc 0.931 · loss 0.214`` for a summary line (system metrics left out)."""
    keys = [k for k in sorted(metrics) if not k.startswith("sys/")][:limit]
    return " · ".join(f"{k} {fmt_value(metrics[k])}" for k in keys)
