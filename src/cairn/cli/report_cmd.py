"""``cairn report RUN [RUN ...] -o report.html``: one file to share when there is no server."""

from __future__ import annotations

from pathlib import Path

import click

from cairn.cli.render import console


@click.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN [RUN ...]")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("report.html"),
              show_default=True, help="The HTML file to write (replaced if it exists).")
def report(runs: tuple[str, ...], output: Path) -> None:
    """Write the RUNs' params, metrics, charts and differences to one self-contained HTML file.

    \b
    The file needs no server and no network: send it by mail or chat, open it in a browser.
    The first run is the baseline the others are compared with.
    """
    from cairn._util.sizes import human_size
    from cairn.cli.opening import open_project
    from cairn.objects.local import LocalObjectStore
    from cairn.report.build import (
        build_report,
        check_output,
        resolve_report_runs,
        write_report,
    )

    check_output(output)
    project, store = open_project()
    chosen = resolve_report_runs(store, list(runs))
    html = build_report(store, project, LocalObjectStore(project.objects_dir), chosen)
    path = write_report(html, output)
    numbers = ", ".join(str(r.number) for r in chosen)
    console().print(f"wrote {path} ({human_size(path.stat().st_size)}, "
                    f"run{'s' if len(chosen) > 1 else ''} {numbers})")
