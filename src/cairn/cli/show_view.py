"""The readable form of ``cairn show``: one screen, most important first."""

from __future__ import annotations

from typing import Any

from cairn._util.fmt import fmt_value
from cairn._util.sizes import human_size
from cairn._util.timefmt import duration
from cairn.cli.render import VERDICT_STYLE, console, status_text


def _section(title: str) -> None:
    console().print(f"\n[bold underline]{title}[/]")


def _kv(rows: list[tuple[str, Any]], style: str = "") -> None:
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="dim")
    table.add_column(style=style)
    for key, value in rows:
        table.add_row(key, value if isinstance(value, str) else fmt_value(value))
    console().print(table)


def _redacted_line(redacted: list[dict[str, Any]]) -> str:
    """"1 secret argument redacted (--api-key)": what was left out, and how repro gets it."""
    n = len(redacted)
    names = ", ".join(str(r.get("arg", "?")) for r in redacted)
    envs = ", ".join(str(r.get("env", "?")) for r in redacted)
    return (f"{n} secret argument{'s' if n != 1 else ''} redacted ({names}); "
            f"repro and fork read {envs}")


def render_show(info: dict[str, Any]) -> None:
    out = console()
    title = f"[bold]run {info['number']}[/]"
    if info.get("name"):
        title += f"  [bold cyan]{info['name']}[/]"
    out.print(f"{title}  {status_text(info['status'])}  [dim]{info['id']}[/]")
    head: list[tuple[str, Any]] = []
    if info.get("message"):
        head.append(("message", info["message"]))
    if info.get("command"):
        import shlex

        head.append(("command", shlex.join(info["command"])))
    redacted = info.get("redacted") or []
    if redacted:
        head.append(("secrets", _redacted_line(redacted)))
    head.append(("started", (info["started_at"] or "-").replace("T", " ")))
    head.append(("took", duration(info.get("duration_s"))))
    if info.get("exit_code") is not None:
        head.append(("exit code", str(info["exit_code"])))
    if info.get("verdict"):
        style = VERDICT_STYLE.get(info["verdict"], "")
        head.append(("verdict", f"[{style}]{info['verdict']}[/]"))
    head.append(("by", f"{info.get('created_by') or '-'} on {info.get('hostname') or '-'}"))
    lineage = {k: v for k, v in (info.get("lineage") or {}).items() if v}
    for relation, target in lineage.items():
        head.append((relation.replace("_", " "), target[:12]))
    _kv(head)

    if info["params"]:
        _section("params")
        _kv(sorted(info["params"].items()), "cyan")
    if info["metrics"]:
        _section("metrics")
        points = info.get("metric_points") or {}
        _kv([(k, f"{fmt_value(v)}  [dim]({points.get(k, 1)} points)[/]")
             for k, v in sorted(info["metrics"].items())], "magenta")
    if info["tags"]:
        _section("tags")
        _kv(sorted(info["tags"].items()))

    code = info.get("code") or {}
    if code.get("commit") or code.get("tree_oid"):
        _section("code")
        rows: list[tuple[str, Any]] = []
        if code.get("commit"):
            rows.append(("commit", f"{code['commit'][:12]} on {code.get('branch') or '-'}"
                         + ("  [yellow]+ uncommitted changes[/]" if code.get("dirty") else "")))
        if code.get("remote"):
            rows.append(("remote", code["remote"]))
        if code.get("untracked_count"):
            rows.append(("untracked", f"{code['untracked_count']} files stored"))
        if code.get("tree_oid"):
            rows.append(("source", f"{code.get('tree_count', '?')} files (not a git repo)"))
        _kv(rows)
        diff = code.get("diff")
        if diff:
            lines = diff.splitlines()
            shown = "\n".join(lines[:20])
            from rich.syntax import Syntax

            out.print(Syntax(shown, "diff", theme="ansi_dark", background_color="default"))
            if len(lines) > 20:
                out.print(f"[dim]… {len(lines) - 20} more lines (cairn show --json)[/]")

    env = info.get("env") or {}
    if env.get("python") or env.get("packages"):
        _section("environment")
        rows = [("python", f"{env.get('python', '-')} ({env.get('implementation', '')}) "
                 f"{env.get('executable', '')}")]
        packages = env.get("packages") or {}
        if packages:
            rows.append(("packages", f"{len(packages)} installed"))
        for lock in env.get("lock_files") or []:
            rows.append(("lock file", lock.get("path", "")))
        _kv(rows)
    host = info.get("host") or {}
    if host:
        _section("host")
        _kv([(k, v) for k, v in host.items() if v not in (None, "", [], {})])

    for kind in ("inputs", "outputs", "artifacts"):
        files = info.get(kind) or []
        if files:
            _section(kind)
            _kv([(f["path"], f"{f['oid'][:12]}  {human_size(f['size'])}"
                  + ("  (folder)" if f.get("is_tree") else "")) for f in files])
    refused = info.get("not_stored") or []
    if refused:
        _section("not stored")
        _kv([(r.get("path", "?"), f"[red]{r.get('reason', '')}[/]") for r in refused])
    for warning in info.get("warnings") or []:
        out.print(f"[yellow]warning:[/] {warning}")
