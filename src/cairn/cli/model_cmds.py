"""``cairn model``: register logged models, list and show them, move aliases, export them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cairn._util.fmt import fmt_value
from cairn.cli.opening import open_project
from cairn.cli.render import console, err_console, print_json

if TYPE_CHECKING:
    from cairn.models.registry import ModelVersion
    from cairn.store.core import MetaStore


@click.group()
def model() -> None:
    """Registered models: numbered versions of logged models, and movable aliases.

    \b
    cairn model register 7:model --name churn     # → churn version 1
    cairn model alias churn@1 production
    cairn model ls · cairn model show churn@production
    cairn model export churn@1 --dockerfile deploy/
    """


@model.command()
@click.argument("target", metavar="RUN[:PATH]")
@click.option("--name", "-n", required=True, help="The registered model's name.")
def register(target: str, name: str) -> None:
    """Make the model a run logged the next version of NAME.

    PATH is the name given to cairn.log_model (default: the run's only model).
    """
    from cairn.models.artifact import register_run_model

    project, store = open_project()
    version, new = register_run_model(project, store, target, name)
    run_number = version.record.get("run_number")
    if new:
        console().print(
            f"registered [bold]{version.name}[/] version [bold]{version.version}[/] "
            f"(run {run_number}, {version.path}, {version.flavor or 'unknown flavor'})")
        console().print(f"[dim]promote it with: cairn model alias {version.ref} production[/]")
    else:
        console().print(f"run {run_number}'s {version.path} is already {version.name} version "
                        f"{version.version}")


@model.command(name="ls")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
def ls(as_json: bool) -> None:
    """List registered models with their latest version and aliases."""
    from cairn.models.registry import get_version, list_models

    _project, store = open_project()
    models = list_models(store)
    if as_json:
        print_json([m.to_json() for m in models])
        return
    if not models:
        console().print("[dim]no registered models yet: cairn model register RUN:PATH "
                        "--name NAME[/]")
        return
    from rich.table import Table

    from cairn._util.timefmt import ago

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("name", "versions", "latest", "flavor", "aliases", "updated"):
        table.add_column(column, justify="right" if column in ("versions", "latest") else "left")
    for m in models:
        latest = get_version(store, m.name, m.latest) if m.latest is not None else None
        aliases = " ".join(f"{a}@{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(m.name, str(m.versions), fmt_value(m.latest),
                      (latest.flavor if latest else None) or "-", aliases or "-",
                      ago(latest.created_at if latest else m.created_at))
    console().print(table)


@model.command()
@click.argument("ref", metavar="NAME[@V|@ALIAS]")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(ref: str, as_json: bool) -> None:
    """Show a model's versions and alias history, or one version in detail."""
    from cairn.models.registry import alias_history, get_version, list_versions

    _project, store = open_project()
    name, _, selector = ref.strip().removeprefix("models:/").partition("@")
    if selector:
        version = get_version(store, name, selector)
        data = _version_json(store, version)
        if as_json:
            print_json(data)
        else:
            _print_version(data)
        return
    versions = list_versions(store, name)
    moves = alias_history(store, name)
    if as_json:
        print_json({"name": name, "versions": [_version_json(store, v) for v in versions],
                    "alias_history": [m.to_json() for m in moves]})
        return
    _print_model(name, versions, [m.to_json() for m in moves])


@model.command()
@click.argument("ref", metavar="NAME@V")
@click.argument("alias")
def alias(ref: str, alias: str) -> None:
    """Point ALIAS (production, staging, …) at version V of NAME."""
    from cairn.models.registry import alias_history, parse_ref, set_alias

    _project, store = open_project()
    name, selector = parse_ref(ref)
    if "@" not in ref:
        raise click.UsageError(f"say which version, as {name}@VERSION")
    version = set_alias(store, name, selector, alias)
    moves = [m for m in alias_history(store, name) if m.alias == alias]
    last = moves[-1] if moves else None
    if last is not None and last.to_version == version.version and last.from_version:
        console().print(f"{name}@{alias}: version {last.from_version} → {version.version}")
    else:
        console().print(f"{name}@{alias} → version {version.version}")


@model.command()
@click.argument("ref", metavar="NAME@V")
@click.option("--dockerfile", "dest", required=True, metavar="DIR",
              type=click.Path(file_okay=False, path_type=Path),
              help="Write a Dockerfile and its build context here (new or empty folder).")
def export(ref: str, dest: Path) -> None:
    """Write a Docker build context that serves the model with `cairn serve`."""
    from cairn.models.export import export_dockerfile

    project, store = open_project()
    result = export_dockerfile(project, store, ref, dest)
    out = console()
    out.print(f"wrote {result.dockerfile} serving {result.version.ref}")
    if not result.bundled_cairn:
        err_console().print("[yellow]cairn is not installed from a source checkout; the image "
                            "installs cairn from the package index[/]")
    out.print(f"[dim]build and run it with: docker build -t {result.image} {dest} && "
              f"docker run -p 8000:8000 {result.image}[/]")


# -- rendering --------------------------------------------------------------------------------
def _version_json(store: MetaStore, version: ModelVersion) -> dict[str, Any]:
    from cairn._util.timefmt import iso_ms
    from cairn.store.runs import get_run

    data = version.to_json()
    run = get_run(store, version.run_id)
    data["ref"] = version.ref
    data["run_number"] = run.number
    data["run_name"] = run.name
    data["created_at_iso"] = iso_ms(version.created_at)
    return data


def _print_version(data: dict[str, Any]) -> None:
    from cairn._util.timefmt import ago

    out = console()
    record = data.get("record") or {}
    aliases = ", ".join(data["aliases"]) or "-"
    out.print(f"[bold]{data['name']}[/] version [bold]{data['version']}[/]  aliases: {aliases}")
    run = f"run {data['run_number']}" + (f" ({data['run_name']})" if data["run_name"] else "")
    out.print(f"  from     {run}, path {data['path']}")
    out.print(f"  flavor   {data['flavor'] or '-'}" +
              (f" · {record['task']}" if record.get("task") else ""))
    out.print(f"  object   {data['oid']}")
    out.print(f"  created  {ago(data['created_at'])} by {data['created_by'] or '-'}")
    signature = record.get("signature")
    if signature:
        from cairn.models.signature import Signature

        out.print(f"  inputs   {Signature.from_json(signature).describe()}")
    requirements = record.get("requirements") or {}
    if requirements:
        listed = ", ".join(f"{k}=={v}" for k, v in sorted(requirements.items()))
        out.print(f"  needs    python {record.get('python') or '?'}, {listed}")
    if record.get("pickle"):
        out.print("  [yellow]stored with pickle: loading it runs code[/]")


def _print_model(name: str, versions: list[ModelVersion], moves: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from cairn._util.timefmt import ago

    out = console()
    out.print(f"[bold]{name}[/] · {len(versions)} version{'s' if len(versions) != 1 else ''}")
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("version", "run", "path", "flavor", "aliases", "created", "by"):
        table.add_column(column, justify="right" if column in ("version", "run") else "left")
    for v in versions:
        table.add_row(str(v.version), fmt_value(v.record.get("run_number")), v.path,
                      v.flavor or "-", " ".join(v.aliases) or "-", ago(v.created_at),
                      v.created_by or "-")
    out.print(table)
    if moves:
        out.print("[bold]alias history[/]")
        for move in moves:
            before = move["from_version"] if move["from_version"] is not None else "-"
            after = move["to_version"] if move["to_version"] is not None else "removed"
            out.print(f"  {ago(move['at'])}  {move['alias']}: {before} → {after}  "
                      f"by {move['by'] or '-'}")
