"""Project housekeeping: ``cairn init`` and ``cairn fsck``."""

from __future__ import annotations

import click

from cairn.cli.render import console, print_json
from cairn.errors import Corrupt


@click.command()
def init() -> None:
    """Make a .cairn/ project in the git root (or here, outside git)."""
    from cairn.project import init_project
    from cairn.store.core import open_store

    project, created = init_project()
    open_store(project).close()
    verb = "created" if created else "already have"
    console().print(f"cairn: {verb} a project in {project.store_dir}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def fsck(as_json: bool) -> None:
    """Rehash every stored object and name each corrupt or missing one."""
    from cairn.cli.opening import open_project
    from cairn.objects.fsck import fsck as check
    from cairn.objects.local import LocalObjectStore

    project, _store = open_project(reap=False)
    objects = LocalObjectStore(project.objects_dir)
    report = check(objects)
    if as_json:
        print_json({"checked": report.checked, "corrupt": list(report.corrupt),
                    "missing": list(report.missing)})
    else:
        out = console()
        for oid in report.corrupt:
            out.print(f"[bold red]corrupt[/] {oid}  (its bytes no longer match its name)")
        for oid in report.missing:
            out.print(f"[bold red]missing[/] {oid}  (a stored folder refers to it)")
        if not report.corrupt and not report.missing:
            out.print(f"[green]ok[/]: {report.checked} objects checked, all intact")
    if report.corrupt or report.missing:
        raise Corrupt(f"{report.checked} objects checked: {len(report.corrupt)} corrupt, "
                      f"{len(report.missing)} missing")
