"""``cairn run -- CMD`` and ``cairn snapshot``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cairn.cli.render import err_console, status_text

if TYPE_CHECKING:
    from cairn.runner.track import Progress, RunOptions


def _common(f: click.decorators.FC) -> click.decorators.FC:
    options = [
        click.option("--name", help="A name for the run (used as a reference too)."),
        click.option("-m", "--message", help="Why this run exists, in a sentence."),
        click.option("--tag", "tags", multiple=True, metavar="K=V", help="Repeatable."),
        click.option("-i", "--input", "inputs", multiple=True, type=click.Path(path_type=Path),
                     help="A file or folder the run reads; hashed before it starts."),
        click.option("-o", "--output", "outputs", multiple=True,
                     type=click.Path(path_type=Path),
                     help="A file or folder the run writes; stored when it ends."),
        click.option("--params", "params_file", type=click.Path(path_type=Path),
                     help="A YAML, JSON or TOML file of params (flattened to dotted keys)."),
        click.option("--metrics", "metrics_file", type=click.Path(path_type=Path),
                     help="A JSON or YAML file of final metrics, read when the run ends."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _options(name: str | None, message: str | None, tags: tuple[str, ...],
             inputs: tuple[Path, ...], outputs: tuple[Path, ...], params_file: Path | None,
             metrics_file: Path | None) -> RunOptions:
    from cairn.runner.track import RunOptions, parse_tags

    return RunOptions(name=name, message=message, tags=parse_tags(tags), inputs=inputs,
                      outputs=outputs, params_file=params_file, metrics_file=metrics_file)


@contextmanager
def hashing_progress() -> Iterator[Progress]:
    """A progress bar that appears only when hashing takes more than a moment."""
    import time

    started = time.monotonic()
    bar: Any = None
    tasks: dict[str, Any] = {}

    def report(label: str, done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            if time.monotonic() - started < 0.5 or not sys.stderr.isatty():
                return
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            bar = Progress(TextColumn("hashing {task.description}"), BarColumn(),
                           DownloadColumn(), TimeRemainingColumn(), console=err_console(),
                           transient=True)
            bar.start()
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=total)
        bar.update(tasks[label], completed=done, total=total)

    try:
        yield report
    finally:
        if bar is not None:
            bar.stop()


@click.command(context_settings={"ignore_unknown_options": True,
                                 "allow_interspersed_args": False})
@_common
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(name: str | None, message: str | None, tags: tuple[str, ...], inputs: tuple[Path, ...],
        outputs: tuple[Path, ...], params_file: Path | None, metrics_file: Path | None,
        command: tuple[str, ...]) -> None:
    """Run COMMAND tracked: cairn run [OPTIONS] -- python train.py --lr 0.1"""
    from cairn.cli.opening import open_project
    from cairn.cli.runs_cmds import metric_line
    from cairn.errors import InvalidInput
    from cairn.runner.track import run_tracked
    from cairn.store.metrics import latest_metrics

    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise InvalidInput("no command given", hint="usage: cairn run [OPTIONS] -- CMD [ARGS...]")
    opts = _options(name, message, tags, inputs, outputs, params_file, metrics_file)
    project, store = open_project()
    with hashing_progress() as progress:
        tracked = run_tracked(project, store, argv, opts, progress=progress)
    run_row = tracked.run
    err = err_console()
    if tracked.error:
        err.print(f"cairn: error: {tracked.error}")
    from cairn._util.timefmt import duration

    metrics = latest_metrics(store, [run_row.id])[run_row.id]
    parts = [f"run {run_row.number} {status_text(run_row.status)} in "
             f"{duration(run_row.duration_s)}"]
    if run_row.exit_code:
        parts.append(f"exit {run_row.exit_code}")
    line = metric_line(metrics)
    if line:
        parts.append(line)
    parts.append(f"[dim]cairn show {run_row.number}[/]")
    err.print("cairn · " + " · ".join(parts))
    sys.exit(tracked.exit_code)


@click.command()
@_common
def snapshot(name: str | None, message: str | None, tags: tuple[str, ...],
             inputs: tuple[Path, ...], outputs: tuple[Path, ...], params_file: Path | None,
             metrics_file: Path | None) -> None:
    """Record the current code, environment and data as a run, running nothing."""
    from cairn.cli.opening import open_project
    from cairn.runner.track import snapshot as take_snapshot

    opts = _options(name, message, tags, inputs, outputs, params_file, metrics_file)
    project, store = open_project()
    with hashing_progress() as progress:
        row = take_snapshot(project, store, opts, progress=progress)
    err_console().print(f"cairn · snapshot recorded as run {row.number} · "
                        f"[dim]cairn show {row.number}[/]")
