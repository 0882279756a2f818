"""``cairn fork RUN [--set k=v ...] [--input PATH=NEWPATH ...] [-- CMD ...]``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cairn.cli.render import err_console


@click.command(context_settings={"allow_interspersed_args": True})
@click.argument("run", metavar="[REMOTE:]RUN")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Change a param (repeatable): rewrites its command-line flag or the params "
                   "file it came from.")
@click.option("--input", "swaps", multiple=True, metavar="PATH=NEWPATH",
              help="Replace the run's input at PATH by your own file or folder (repeatable).")
@click.option("--dir", "dest", type=click.Path(path_type=Path),
              help="Check out and run in this (new or empty) folder, and keep it.")
@click.option("--name", help="A name for the new run.")
@click.option("-m", "--message", help="Why this fork exists, in a sentence.")
@click.option("--tag", "tags", multiple=True, metavar="K=V", help="Repeatable.")
@click.option("--no-diff", is_flag=True, help="Do not print the diff against the original.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ...]")
def fork(run: str, sets: tuple[str, ...], swaps: tuple[str, ...], dest: Path | None,
         name: str | None, message: str | None, tags: tuple[str, ...], no_diff: bool,
         command: tuple[str, ...]) -> None:
    """Re-run someone's run with your settings and data, tracked and linked to it.

    \b
    cairn fork 7 --set lr=0.01
    cairn fork team:7 --set lr=0.01 --input data/=~/my-data/
    cairn fork 7 -- python train.py --epochs 3

    The run is checked out (code, inputs), the overrides applied, the command run tracked
    with lineage forked_from, and a diff against the original printed.
    """
    from cairn.cli.opening import open_project
    from cairn.cli.repro_cmds import restore_progress
    from cairn.fork.fork import ForkOptions, fork_run, resolve_source
    from cairn.fork.overrides import parse_input_swaps, parse_sets
    from cairn.runner.track import parse_tags

    argv = list(command)
    if argv and argv[0] == "--":
        argv = argv[1:]
    overrides = parse_sets(sets)
    input_swaps = parse_input_swaps(swaps, Path.cwd())
    tag_map = parse_tags(tags)
    project, store = open_project()
    err = err_console()
    original, _remote = resolve_source(project, store, run,
                                       on_pull=lambda line: err.print(f"cairn · {line}"))
    opts = ForkOptions(sets=overrides, swaps=input_swaps, command=argv or None, dir=dest,
                       name=name, message=message, tags=tag_map)
    with restore_progress() as progress:
        result = fork_run(project, store, original, opts, progress=progress,
                          on_ready=lambda line: err.print(f"cairn · forking {line}"))
    for warning in result.warnings:
        err.print(f"[yellow]cairn: warning:[/] {warning}")
    a, b = result.original.number, result.fork.number
    if not no_diff:
        from cairn.cli.diff_cmd import render_diff
        from cairn.history.diff import diff_runs
        from cairn.objects.local import LocalObjectStore

        diff = diff_runs(store, result.original, result.fork,
                         LocalObjectStore(project.objects_dir), project.root)
        render_diff(diff)
    status = result.fork.status
    err.print(f"cairn · run {b} forked from run {a} · {status}"
              + (f" (exit {result.exit_code})" if result.exit_code else "")
              + f" · [dim]cairn diff {a} {b}[/]")
    if result.dir is not None:
        err.print(f"[dim]  the fork's files are in {result.dir}[/]")
    if result.exit_code:
        sys.exit(result.exit_code)
