"""Start-up: ``import cairn`` vs ``import mlflow`` (beside a bare interpreter), ``--help``,
and what ``cairn run`` adds around a command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import Case, Context, Side, SideFn
from benchmarks.procs import Tool, base_env, run_command, time_command
from benchmarks.scenarios.common import cairn_store, fresh, prepare_cairn_store, seconds

IMPORT_FIGURES = (
    seconds("import_s", "import, in process"),
    seconds("import_wall_s", "python -c 'import …', whole process"),
    seconds("import_over_bare_s", "… minus a bare interpreter"),
    seconds("bare_s", "bare interpreter (python -c pass)", compare=False),
)


def _importing(ctx: Context, tool: Tool, module: str) -> SideFn:
    def run() -> dict[str, float]:
        tool.check()
        cwd, env = fresh(ctx, f"import-{tool.name}"), base_env(tool.env)
        bare = time_command([tool.python, "-c", "pass"], cwd=cwd, env=env, timeout=ctx.timeout)
        code = f"import time; t = time.perf_counter(); import {module}; " \
               "print(time.perf_counter() - t)"
        wall, out = run_command([tool.python, "-c", code], cwd=cwd, env=env,
                                timeout=ctx.timeout)
        return {"bare_s": bare, "import_wall_s": wall, "import_over_bare_s": wall - bare,
                "import_s": float(out.split()[-1])}

    return run


def _help(ctx: Context, tool: Tool) -> SideFn:
    def run() -> dict[str, float]:
        tool.check()
        cwd = fresh(ctx, f"help-{tool.name}")
        return {"help_s": time_command([tool.script(tool.name), "--help"], cwd=cwd,
                                       env=base_env(tool.env), timeout=ctx.timeout)}

    return run


def _run_overhead(ctx: Context) -> SideFn:
    tool = ctx.cairn
    store: list[tuple[Path, dict[str, str]]] = []  # one store for the case, made on first use

    def run() -> dict[str, float]:
        if not store:
            cwd, extra = cairn_store(ctx, "run-overhead")
            prepare_cairn_store(ctx, tool, cwd, extra)
            store.append((cwd, base_env(extra)))
        cwd, env = store[0]
        bare = time_command([tool.python, "-c", "pass"], cwd=cwd, env=env, timeout=ctx.timeout)
        tracked = time_command([tool.script("cairn"), "run", "--", tool.python, "-c", "pass"],
                               cwd=cwd, env=env, timeout=ctx.timeout)
        return {"tracked_s": tracked, "bare_cmd_s": bare, "overhead_s": tracked - bare}

    return run


def cases(ctx: Context) -> Iterator[Case]:
    yield Case(
        "import", IMPORT_FIGURES,
        Side("cairn", _importing(ctx, ctx.cairn, "cairn")),
        Side("mlflow", _importing(ctx, ctx.mlflow, "mlflow")),
        note="target: import cairn under 50 ms more than a bare interpreter",
        warmup=True,
    )
    yield Case(
        "--help", (seconds("help_s", "TOOL --help, whole process"),),
        Side("cairn", _help(ctx, ctx.cairn)), Side("mlflow", _help(ctx, ctx.mlflow)),
        note="target: under 0.3 s", warmup=True,
    )
    yield Case(
        "cairn run overhead",
        (seconds("tracked_s", "cairn run -- python -c pass"),
         seconds("bare_cmd_s", "python -c pass"),
         seconds("overhead_s", "overhead")),
        Side("cairn", _run_overhead(ctx)),
        note="no anchor does this; target: under 0.3 s over the bare command",
        warmup=True,
    )
