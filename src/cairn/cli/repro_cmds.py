"""``cairn checkout``, ``cairn repro`` and ``cairn env export``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from cairn._util.fmt import fmt_value
from cairn._util.sizes import human_size
from cairn.cli.render import VERDICT_STYLE, err_console, print_json

_ENV_CHOICES = click.Choice(["venv", "current", "docker"])



@contextmanager
def restore_progress() -> Iterator[Callable[[int, int], None]]:
    """A progress bar that appears only when restoring data takes more than a moment."""
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    started = time.monotonic()
    bar: Progress | None = None
    task: Any = None

    def report(done: int, total: int) -> None:
        nonlocal bar, task
        if bar is None:
            if time.monotonic() - started < 0.5 or not sys.stderr.isatty():
                return
            bar = Progress(TextColumn("restoring data"), BarColumn(), DownloadColumn(),
                           TimeRemainingColumn(), console=err_console(), transient=True)
            bar.start()
            task = bar.add_task("data", total=total)
        bar.update(task, completed=done, total=total)

    try:
        yield report
    finally:
        if bar is not None:
            bar.stop()


def _tolerance(value: float | None, name: str) -> None:
    from cairn.errors import InvalidInput

    if value is not None and not value >= 0:
        raise InvalidInput(f"--{name} must be a number of 0 or more, not {value}")


@click.command()
@click.argument("run")
@click.option("--dir", "dest", type=click.Path(path_type=Path),
              help="Where to restore (default: ./NAME-NUMBER, a new folder).")
@click.option("--force", is_flag=True, help="Replace DIR even when it holds files.")
def checkout(run: str, dest: Path | None, force: bool) -> None:
    """Restore a run's exact code, inputs and outputs into a folder."""
    from cairn.cli.opening import open_project
    from cairn.objects.local import LocalObjectStore
    from cairn.reproduce.checkout import checkout as do_checkout
    from cairn.reproduce.checkout import default_dir
    from cairn.reproduce.plan import load_plan
    from cairn.store.resolve import resolve_run

    project, store = open_project()
    row = resolve_run(store, run)
    objects = LocalObjectStore(project.objects_dir)
    plan = load_plan(project, store, objects, row, need_command=False)
    target = dest if dest is not None else default_dir(plan, Path.cwd())
    with restore_progress() as progress:
        result = do_checkout(project, objects, plan, target, force=force, progress=progress)
    err = err_console()
    for warning in result.warnings:
        err.print(f"[yellow]cairn: warning:[/] {warning}")
    parts = [f"{result.code_files} code file{'s' if result.code_files != 1 else ''}"]
    if plan.inputs:
        parts.append(f"{len(plan.inputs)} input{'s' if len(plan.inputs) != 1 else ''}")
    if plan.outputs:
        parts.append(f"{len(plan.outputs)} output{'s' if len(plan.outputs) != 1 else ''}")
    if result.data_bytes:
        parts.append(human_size(result.data_bytes) + " of data")
    err.print(f"cairn · run {row.number} checked out into {result.base} · {', '.join(parts)}")
    if plan.cwd_rel:
        err.print(f"[dim]  the command ran in {plan.cwd_rel}/[/]")


@click.command()
@click.argument("run")
@click.option("--env", "env_mode", type=_ENV_CHOICES, default="venv", show_default=True,
              help="venv: rebuild the recorded packages with uv; current: use cairn's own "
                   "interpreter; docker: build and run an image.")
@click.option("--dir", "dest", type=click.Path(path_type=Path),
              help="Check out into this (new or empty) folder and keep it.")
@click.option("--rtol", type=float, default=None, metavar="X",
              help="Relative tolerance for float metrics (default 1e-6).")
@click.option("--atol", type=float, default=None, metavar="X",
              help="Absolute tolerance for float metrics (default 1e-9).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as one JSON object.")
def repro(run: str, env_mode: str, dest: Path | None, rtol: float | None, atol: float | None,
          as_json: bool) -> None:
    """Rebuild a run, re-run it and verify its results: REPRODUCED, DIVERGED or FAILED.

    \b
    Exit code 0 when reproduced, 1 otherwise. Whole numbers must match exactly; floats
    agree when |a - b| <= max(rtol * max(|a|, |b|), atol).
    """
    from cairn.cli.opening import open_project
    from cairn.reproduce.repro import ReproOptions, reproduce
    from cairn.reproduce.verify import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance
    from cairn.store.resolve import resolve_run

    _tolerance(rtol, "rtol")
    _tolerance(atol, "atol")
    tol = Tolerance(DEFAULT_RTOL if rtol is None else rtol, DEFAULT_ATOL if atol is None else atol)
    project, store = open_project()
    row = resolve_run(store, run)
    err = err_console()

    def on_step(name: str, detail: str) -> None:
        if name == "start":
            err.print(f"cairn · rebuilding run {row.number} ({detail})")
            return
        labels = {"code": "code restored", "inputs": "inputs restored",
                  "environment": "environment", "packages": "packages", "python": "python"}
        mark = "[yellow]![/]" if name in ("packages", "python") else "[green]✓[/]"
        err.print(f"  {mark} {labels.get(name, name):<16} {detail}")

    opts = ReproOptions(env_mode=env_mode, dir=dest, tolerance=tol, echo=not as_json,
                        use_pty=False if as_json else None)
    with restore_progress() as progress:
        result = reproduce(project, store, row, opts, on_step=on_step, progress=progress)
    if as_json:
        print_json(result.report)
    render_verdict(result.report)
    n_a, n_b = result.original.number, result.reproduction.number
    err.print(f"cairn · run {n_b} reproduces run {n_a} · [dim]cairn diff {n_a} {n_b}[/]")
    sys.exit(result.exit_code)


def render_verdict(report: dict[str, Any]) -> None:
    """The verdict and what it rests on, on stderr."""
    err = err_console()
    verdict = report["verdict"]
    tol = report["tolerance"]
    style = VERDICT_STYLE.get(verdict, "")
    why = {
        "REPRODUCED": f"metrics within rtol {tol['rtol']:g}, atol {tol['atol']:g}; "
                      "outputs byte-identical",
        "DIVERGED": "see what differs below",
        "FAILED": f"the command ended {report['reproduction']['status']} with exit code "
                  f"{report['reproduction']['exit_code']}",
    }[verdict]
    err.print(f"  verdict: [{style}]{verdict}[/] ({why})")
    if verdict == "FAILED":
        for line in report["log_tail"]:
            err.print(f"  [dim]│[/] {line}", markup=False, highlight=False)
    params = report["params"]
    err.print("  params   " + ("identical" if not params else ", ".join(
        f"[bold]{p['key']}[/] {fmt_value(p['original'])} → {fmt_value(p['reproduced'])}"
        for p in params)))
    _render_metrics(report["metrics"])
    outputs = report["outputs"]
    if outputs:
        err.print("  outputs  " + "   ".join(
            f"{o['path']} identical" if o["identical"] else
            f"[bold yellow]{o['path']} {'missing' if not o['reproduced_oid'] else 'differs'}[/]"
            for o in outputs[:12]) + (f"   … {len(outputs) - 12} more" if len(outputs) > 12
                                       else ""))
    stdout = report.get("stdout")
    if stdout is not None:
        if stdout["identical"]:
            err.print(f"  output   {stdout['lines_original']} lines identical "
                      "(timings masked, numbers within tolerance)")
        else:
            err.print("  output   [bold yellow]differs[/]; first differing lines:")
            for d in stdout["first_differences"]:
                err.print(f"    line {d['line']}: {d['original']!r} → {d['reproduced']!r}",
                          markup=False, highlight=False)
    for note in report.get("notes") or []:
        err.print(f"  [dim]note: {note}[/]")
    env = report["environment"]
    for item in env.get("not_rebuildable") or []:
        err.print(f"  [yellow]not rebuilt:[/] {item['requirement']} ({item['reason']})")
    hints = report.get("hints") or []
    if hints:
        err.print("  likely causes:")
        for hint in hints:
            err.print(f"    · {hint}")
    if report["reproduction"].get("dir") and verdict != "REPRODUCED":
        err.print(f"  [dim]the rebuilt run is in {report['reproduction']['dir']}[/]")


def _render_metrics(metrics: list[dict[str, Any]]) -> None:
    if not metrics:
        return
    err = err_console()
    moved = [m for m in metrics if not m["ok"]]
    shown = moved or metrics
    parts = []
    for m in shown[:12]:
        text = f"{m['key']} {fmt_value(m['original'])} → {fmt_value(m['reproduced'])}"
        if not m["ok"]:
            if m["abs_diff"] is not None:
                text += f" (Δ {fmt_value(m['abs_diff'])}, {fmt_value(100 * m['rel_diff'])}%)"
            series = m.get("series")
            if series and not series["ok"] and series["first_step_differing"] is not None:
                text += f", first differs at step {series['first_step_differing']}"
            text = f"[bold yellow]{text}[/]"
        parts.append(text)
    more = f"   … {len(shown) - 12} more" if len(shown) > 12 else ""
    same = f"   [dim]({len(metrics) - len(moved)} others within tolerance)[/]" \
        if moved and len(metrics) > len(moved) else ""
    err.print("  metrics  " + "   ".join(parts) + more + same)


@click.group()
def env() -> None:
    """A run's environment, for other tools."""


@env.command("export")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(["requirements", "dockerfile", "uv"]),
              required=True, help="requirements.txt pins, a Dockerfile, or a uv pyproject.toml.")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path),
              help="Write to FILE instead of stdout.")
def export(run: str, fmt: str, output: Path | None) -> None:
    """Write a run's exact environment as requirements, a Dockerfile or a uv project."""
    from cairn.cli.opening import open_project
    from cairn.errors import PermissionDenied
    from cairn.objects.local import LocalObjectStore
    from cairn.reproduce.export import export_environment
    from cairn.reproduce.plan import load_plan
    from cairn.store.resolve import resolve_run

    project, store = open_project()
    row = resolve_run(store, run)
    plan = load_plan(project, store, LocalObjectStore(project.objects_dir), row,
                     need_command=False)
    result = export_environment(plan, fmt)
    for warning in result.warnings:
        err_console().print(f"[yellow]cairn: warning:[/] {warning}")
    if output is None:
        sys.stdout.write(result.text)
        return
    try:
        output.write_text(result.text)
    except OSError as exc:
        raise PermissionDenied(f"cannot write {output}: {exc.strerror}") from exc
    err_console().print(f"cairn · wrote {output}")
