"""Reading runs back: ``cairn ls``, ``cairn show``, ``cairn logs``."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from cairn.cli.context import open_project
from cairn.cli.render import console, fmt_value, print_json, status_text


@click.command()
@click.option("--filter", "-f", "filter_expr", metavar="EXPR",
              help="e.g. 'metrics.acc > 0.9 and params.model = rf and status = finished'")
@click.option("--sort", "-s", metavar="KEY", help="started_at, metrics.K, params.K, …; -KEY "
              "sorts descending (default: newest first)")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--all", "show_all", is_flag=True, help="List every matching run.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def ls(filter_expr: str | None, sort: str | None, limit: int, show_all: bool,
       as_json: bool) -> None:
    """List runs, newest first, with the params and metrics that vary between them."""
    from cairn.history.listing import list_runs, varying_keys

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
    from rich.table import Table

    from cairn._util.timefmt import ago, duration

    param_keys = varying_keys([s.params for s in summaries])[:6]
    metric_keys = sorted({k for s in summaries for k in s.metrics if not k.startswith("sys/")})
    metric_keys = metric_keys[:6]
    show_commit = any(s.commit for s in summaries)
    table = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", style="bold")
    table.add_column("name", max_width=24, overflow="ellipsis")
    table.add_column("status")
    table.add_column("started")
    table.add_column("took", justify="right")
    if show_commit:
        table.add_column("commit", style="dim")
    for key in param_keys:
        table.add_column(key, justify="right", style="cyan", max_width=16, overflow="ellipsis")
    for key in metric_keys:
        table.add_column(key, justify="right", style="magenta")
    now = time.time_ns() // 1_000_000
    for s in summaries:
        r = s.run
        status = status_text(r.status)
        if r.verdict:
            status += f" [dim]{r.verdict.lower()}[/]"
        row = [str(r.number), r.name or "", status, ago(r.started_at, now),
               duration(r.duration_s)]
        if show_commit:
            row.append((s.commit or "")[:7] + ("*" if r.record.get("code", {}).get("dirty")
                                                else ""))
        row += [fmt_value(s.params.get(k)) for k in param_keys]
        row += [fmt_value(s.metrics.get(k)) for k in metric_keys]
        table.add_row(*row)
    out = console()
    out.print(table)
    if total > len(summaries):
        out.print(f"[dim]{len(summaries)} of {total} runs · --limit N or --all for more[/]")


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
