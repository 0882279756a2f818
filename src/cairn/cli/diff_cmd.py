"""``cairn diff A B``: what changed between two runs, most telling first."""

from __future__ import annotations

from typing import Any

import click

from cairn._util.fmt import fmt_value
from cairn.cli.render import console, print_json


@click.command()
@click.argument("run_a")
@click.argument("run_b")
@click.option("--all", "show_all", is_flag=True, help="Also list what is the same.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def diff(run_a: str, run_b: str, show_all: bool, as_json: bool) -> None:
    """Compare RUN_A and RUN_B: params, metrics, code, packages, data, host."""
    from cairn.cli.opening import open_project
    from cairn.history.diff import diff_runs
    from cairn.objects.local import LocalObjectStore
    from cairn.store.resolve import resolve_run

    project, store = open_project()
    a, b = resolve_run(store, run_a), resolve_run(store, run_b)
    result = diff_runs(store, a, b, LocalObjectStore(project.objects_dir), project.root)
    if as_json:
        print_json(result)
        return
    render_diff(result, show_all)


def _delta(row: dict[str, Any]) -> str:
    if "delta" not in row or row["same"]:
        return ""
    d = row["delta"]
    color = "green" if d > 0 else "red"
    return f"[{color}]{'+' if d > 0 else ''}{fmt_value(d)}[/]"


def render_diff(result: dict[str, Any], show_all: bool = False) -> None:
    from rich.table import Table

    out = console()
    na, nb = result["a"]["number"], result["b"]["number"]
    out.print(f"[bold]run {na}[/] ({result['a']['name'] or result['a']['id'][:8]}) → "
              f"[bold]run {nb}[/] ({result['b']['name'] or result['b']['id'][:8]})")
    for section in ("params", "metrics"):
        rows = [r for r in result[section] if show_all or not r["same"]]
        if not rows:
            out.print(f"\n[bold]{section}[/] [dim]identical[/]")
            continue
        table = Table(title=None, box=None, header_style="bold", pad_edge=False)
        table.add_column(section)
        table.add_column(f"run {na}", justify="right")
        table.add_column(f"run {nb}", justify="right")
        table.add_column("change", justify="right")
        for r in rows:
            style = "" if r["same"] else "bold"
            table.add_row(r["key"], fmt_value(r["a"]), f"[{style}]{fmt_value(r['b'])}[/]",
                          _delta(r))
        out.print()
        out.print(table)

    code = result["code"]
    out.print("\n[bold]code[/]")
    ca, cb = code["a"], code["b"]
    if code["same_commit"]:
        out.print(f"  commit {str(ca['commit'] or '-')[:12]} in both")
    else:
        out.print(f"  commit {str(ca['commit'] or '-')[:12]} → {str(cb['commit'] or '-')[:12]}")
    if code.get("commit_diff"):
        out.print("  " + code["commit_diff"].rstrip().replace("\n", "\n  "))
    if not code["same_uncommitted"]:
        files_a = ", ".join(code["uncommitted_files"]["a"]) or "none"
        files_b = ", ".join(code["uncommitted_files"]["b"]) or "none"
        out.print(f"  uncommitted changes differ: [dim]{files_a}[/] → [dim]{files_b}[/]")
    if not code["same_untracked"]:
        out.print("  untracked files differ")

    pk = result["packages"]
    changed = len(pk["added"]) + len(pk["removed"]) + len(pk["changed"])
    py_a, py_b = result["python"]
    header = "\n[bold]packages[/]"
    if py_a != py_b:
        header += f"  python {py_a} → {py_b}"
    if not changed:
        out.print(f"{header} [dim]identical ({pk['same']})[/]")
    else:
        out.print(header)
        for name, version in pk["added"].items():
            out.print(f"  [green]+ {name} {version}[/]")
        for name, version in pk["removed"].items():
            out.print(f"  [red]- {name} {version}[/]")
        for name, (va, vb) in pk["changed"].items():
            out.print(f"  [yellow]~ {name} {va} → {vb}[/]")

    for section in ("inputs", "outputs"):
        rows = [r for r in result[section] if show_all or r["status"] != "same"]
        if not result[section]:
            continue
        if not rows:
            out.print(f"\n[bold]{section}[/] [dim]identical[/]")
            continue
        out.print(f"\n[bold]{section}[/]")
        marks = {"added": "[green]+[/]", "removed": "[red]-[/]", "changed": "[yellow]~[/]",
                 "same": " "}
        for r in rows:
            out.print(f"  {marks[r['status']]} {r['path']}")
    if result["host"]:
        out.print("\n[bold]host[/]")
        for r in result["host"]:
            out.print(f"  {r['key']}: {fmt_value(r['a'])} → {fmt_value(r['b'])}")
    if result["env_vars"]:
        out.print("\n[bold]environment variables[/]")
        for r in result["env_vars"]:
            out.print(f"  {r['key']}: {fmt_value(r['a'])} → {fmt_value(r['b'])}")
