"""``python -m benchmarks [--quick] [--pairs N] [SCENARIO ...]``: run, print, save."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks import envs, machine, report
from benchmarks.harness import CaseResult, Context, failing, run_case
from benchmarks.procs import Tool, close_probe_servers
from benchmarks.scenarios import PLANNED, SCENARIOS

REPO = Path(__file__).resolve().parent.parent


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="cairn side by side with MLflow and DVC: a table here, every figure in "
                    "benchmarks/results/.")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                   help=f"which to run (default: all): {', '.join(SCENARIOS)}")
    p.add_argument("--quick", action="store_true", help="reduced sizes, under 2 minutes")
    p.add_argument("--pairs", type=int, default=3, help="cairn/anchor pairs per case (3)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--scratch", type=Path, default=None,
                   help="where stores and data go (default: the system temp folder)")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = p.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    if args.pairs < 1:
        p.error("--pairs must be at least 1")
    return args


def _cairn_tool() -> Tool:
    python = REPO / ".venv" / "bin" / "python"
    return Tool("cairn", python if python.exists() else Path(sys.executable))


def _list(console: Console) -> None:
    for name, entry in SCENARIOS.items():
        anchors = ", ".join(entry.anchors) or "—"
        console.print(f"{name:12} {entry.about}  [dim](anchors: {anchors})[/dim]")
    for name, about in PLANNED.items():
        console.print(f"[dim]{name:12} planned: {about}[/dim]")


def _tools(anchors: dict[str, envs.AnchorEnv | str]) -> dict[str, Tool]:
    tools: dict[str, Tool] = {}
    for name in envs.ANCHORS:
        env = anchors.get(name)
        if isinstance(env, envs.AnchorEnv):
            tools[name] = env.tool
        else:
            reason = env or f"{name} is not needed by the chosen scenarios"
            tools[name] = Tool(name, Path("/nonexistent"), missing=reason)
    return tools


def _run(names: list[str], ctx: Context, pairs: int, log: Console) -> list[CaseResult]:
    results: list[CaseResult] = []
    for name in names:
        log.log(f"[bold]{name}[/bold]: {SCENARIOS[name].about}")
        try:
            for case in SCENARIOS[name].cases(ctx):
                results.append(run_case(name, case, pairs, log, warmup=not ctx.quick))
        except Exception as exc:  # a scenario whose setup broke is reported, not skipped
            results.append(run_case(name, failing("setup", (), "cairn", repr(exc)), 1, log))
    return results


def _meta(args: argparse.Namespace, names: list[str], anchors: dict[str, envs.AnchorEnv | str],
          ctx: Context, timing: dict[str, Any]) -> dict[str, Any]:
    versions = machine.cairn_version(REPO)
    env_info = {}
    for name, env in anchors.items():
        if isinstance(env, envs.AnchorEnv):
            versions.update(env.versions)
            env_info[name] = {"reused": env.reused, "created_s": env.created_s}
    return {
        "mode": "quick" if args.quick else "full", "pairs": args.pairs, "scenarios": names,
        **timing, "anchor_envs": env_info,
        "machine": machine.describe(ctx.scratch.parent, ctx.cairn.python), "versions": versions,
    }


def _print(console: Console, data: dict[str, Any], results: list[CaseResult], path: Path) -> None:
    m, versions = data["machine"], data["versions"]
    title = (f"cairn benchmarks ({data['mode']}, {data['pairs']} pairs) — {m['cpu']}, "
             f"{m['cores_logical']} cores, {m['ram_gib']} GiB, {m['os']}, python {m['python']}\n"
             + ", ".join(f"{k} {v}" for k, v in versions.items() if v))
    console.print(report.table(results, title))
    report.notes(results, console)
    report.problems(results, console)
    if data["fractions_of_limits"]:
        console.print(report.fractions_table(data["fractions_of_limits"]))
    envs_note = ", ".join(
        f"{k}: {'cached' if v['reused'] else 'created now'}"
        + (f" (its first creation took {v['created_s']:.0f} s)" if v["created_s"] else "")
        for k, v in data["anchor_envs"].items())
    load = data["load_average_1min"]
    console.print(
        f"measured in {data['duration_s']:.0f} s; anchor environments "
        f"{data['anchor_env_setup_s']:.0f} s" + (f" ({envs_note})" if envs_note else "")
        + f"\nload average {load['start']:.1f} at the start, {load['end']:.1f} at the end, on "
        f"{m['cores_logical']} cores (other work on the machine makes the figures noisy)"
        + f"\nresults: {path}",
        markup=False, highlight=False)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    # Piped output (make, CI logs) would be 80 columns wide, too narrow for the table.
    console = Console(width=None if sys.stdout.isatty() else 150)
    log = Console(stderr=True, width=None if sys.stderr.isatty() else 150)
    if args.list:
        _list(console)
        return 0
    names = args.scenarios or list(SCENARIOS)
    started_at, load_start = time.strftime("%Y-%m-%dT%H:%M:%S%z"), os.getloadavg()[0]

    start = time.perf_counter()
    anchors = envs.prepare({a for n in names for a in SCENARIOS[n].anchors}, log)
    setup_s = time.perf_counter() - start
    tools = _tools(anchors)
    scratch = Path(tempfile.mkdtemp(prefix="cairn-bench-", dir=args.scratch))
    ctx = Context(quick=args.quick, scratch=scratch, cairn=_cairn_tool(),
                  mlflow=tools["mlflow"], dvc=tools["dvc"],
                  timeout=300.0 if args.quick else 3600.0)
    start = time.perf_counter()
    try:
        results = _run(names, ctx, args.pairs, log)
    finally:
        close_probe_servers()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    timing: dict[str, Any] = {
        "started_at": started_at, "duration_s": round(time.perf_counter() - start, 1),
        "anchor_env_setup_s": round(setup_s, 1),
        "load_average_1min": {"start": load_start, "end": os.getloadavg()[0]},
    }
    data = report.to_json(results, _meta(args, names, anchors, ctx, timing))
    path = report.write(data, results, args.quick)
    _print(console, data, results, path)
    if args.keep:
        console.print(f"scratch kept: {scratch}", markup=False, highlight=False)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
