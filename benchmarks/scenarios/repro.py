"""Reproducing: ``cairn checkout`` of a run's inputs against copying them, the verdict
``cairn repro`` computes, and a warm ``cairn repro --env venv`` over the bare command.

- checkout: a run made by ``cairn snapshot -i data`` of one big file; ``cairn checkout RUN
  --dir NEW`` against ``cp -r data NEW`` of the same file (both from the page cache, each
  sample after ``os.sync()``). The checkout also restores the run's code state, here the
  working folder, which holds only the data.
- verdict: ``cairn.reproduce.report.compare_runs`` (params, every metric and its series,
  every output file; what ``cairn repro`` runs after the command) for two runs with 100
  metrics of 10 steps and an output folder of 1,000 files, one of which differs, so the
  folder is compared file by file. No anchor: DVC compares hashes of declared outputs only.
- repro: ``cairn repro RUN --env venv`` the second time (the venv is cached), for a script
  importing two packages in a venv of its own, minus the bare command. The first time,
  made outside timing, needs ``uv`` to reach a package index; where it cannot, the case is
  shown as not available.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

from benchmarks.harness import Case, Context, Figure, Side, human_bytes
from benchmarks.procs import Failed, Unavailable, base_env, run_command, run_probe, time_command
from benchmarks.scenarios.common import count, fresh, seconds
from benchmarks.scenarios.data import _make_source

METRICS, STEPS, OUTPUTS = 100, 10, 1000

MAKE_OUTPUTS = f"""\
import os, sys, cairn
cairn.init(name=sys.argv[1])
for step in range({STEPS}):
    cairn.log({{f"m{{k:03d}}": (k + 1) * 0.001 * (step + 1) for k in range({METRICS})}},
              step=step)
os.makedirs("out", exist_ok=True)
for i in range({OUTPUTS}):
    text = f"file {{i}}\\n" * 50
    if i == 500 and sys.argv[1] == "other":
        text += "changed\\n"
    with open(f"out/f{{i:04d}}.txt", "w") as f:
        f.write(text)
cairn.finish()
"""

SCRIPT = 'import packaging.version, six\nprint("answer", 42, packaging.version.Version("1.2"))\n'


def _checkout_case(ctx: Context) -> Iterator[Case]:
    size = ctx.size(200_000_000, 1_000_000_000)
    ws = fresh(ctx, "repro-checkout")
    env = base_env({"CAIRN_DIR": str(ws / ".cairn")})
    cli = ctx.cairn.script("cairn")
    source = _make_source(ws, size, 0)
    shutil.rmtree(source / "files")
    error: Exception | None = None
    try:
        time_command([cli, "snapshot", "-m", "inputs", "-i", "data"], cwd=ws, env=env,
                     timeout=ctx.timeout)
    except (Unavailable, Failed) as exc:
        error = exc
    targets = fresh(ctx, "repro-targets")
    n = iter(range(1_000_000))

    def cairn() -> dict[str, float]:
        if error is not None:
            raise error
        target = targets / f"co-{next(n)}"
        os.sync()
        try:
            took = time_command([cli, "checkout", "last", "--dir", str(target)], cwd=ws,
                                env=env, timeout=ctx.timeout)
            restored = target / "data" / "big.bin"
            if not restored.exists() or restored.stat().st_size != size:
                raise Failed(f"cairn checkout did not restore {restored}")
        finally:
            shutil.rmtree(target, ignore_errors=True)
        return {"checkout_s": took, "checkout_gbps": size / took / 1e9}

    def copy() -> dict[str, float]:
        target = targets / f"cp-{next(n)}"
        target.mkdir()
        os.sync()
        try:
            took = time_command(["/bin/cp", "-r", str(source), str(target / "data")], cwd=ws,
                                env=base_env(), timeout=ctx.timeout)
        finally:
            shutil.rmtree(target, ignore_errors=True)
        return {"checkout_s": took, "checkout_gbps": size / took / 1e9}

    mb = human_bytes(size)
    try:
        yield Case(
            "checkout inputs",
            (seconds("checkout_s", f"restore a run's {mb} input"),
             Figure("checkout_gbps", f"restore a {mb} input, throughput", "GB/s",
                    higher_is_better=True)),
            Side("cairn", cairn), Side("cp -r", copy),
            note=f"cairn checkout RUN --dir NEW (whole command; the run was made by cairn "
                 f"snapshot -i data of one {mb} file) vs cp -r of the same file; the data is "
                 "in the page cache, os.sync() before each sample",
        )
    finally:
        shutil.rmtree(ws, ignore_errors=True)


def _verdict_case(ctx: Context) -> Case:
    ws = fresh(ctx, "repro-verdict")
    env = {"CAIRN_DIR": str(ws / ".cairn")}
    (ws / "make.py").write_text(MAKE_OUTPUTS)
    cli, error = ctx.cairn.script("cairn"), None
    try:
        for name in ("original", "other"):
            time_command([cli, "run", "-o", "out", "--", ctx.cairn.python, "make.py", name],
                         cwd=ws, env=base_env(env), timeout=ctx.timeout)
    except (Unavailable, Failed) as exc:
        error = exc

    def run() -> dict[str, float]:
        if error is not None:
            raise error
        got = run_probe(ctx.cairn, "cairn_probe", "verdict",
                        {"original": 1, "other": 2, "metrics": METRICS},
                        cwd=ws, env=env, timeout=ctx.timeout)
        if got["differs"] != 1:
            raise Failed("the verdict missed the changed output file")
        return got

    return Case(
        f"verdict, {METRICS} metrics and {OUTPUTS:,} output files",
        (seconds("verdict_s", "compare_runs (params, metrics and series, outputs)"),
         count("metrics", "metrics compared"), count("outputs", "output rows reported")),
        Side("cairn", run),
        note=f"cairn.reproduce.report.compare_runs, timed inside the process, for two runs "
             f"of {METRICS} metrics × {STEPS} steps and an output folder of {OUTPUTS:,} files "
             "of which one differs; no anchor (DVC compares output hashes only)",
    )


def _repro_case(ctx: Context) -> Case:
    ws = fresh(ctx, "repro-venv")
    env = base_env({"CAIRN_DIR": str(ws / ".cairn")})
    cli, uv = ctx.cairn.script("cairn"), ctx.cairn.script("uv")
    (ws / "script.py").write_text(SCRIPT)
    python = ws / "venv" / "bin" / "python"
    state: dict[str, Exception | None] = {"error": None}

    def setup() -> None:
        if not uv.exists():
            raise Unavailable(f"{uv} does not exist (pip install 'cairn[repro]')")
        try:
            run_command([uv, "venv", "-q", ws / "venv"], cwd=ws, env=env, timeout=120)
            run_command([uv, "pip", "install", "-q", "--python", python, "six", "packaging"],
                        cwd=ws, env=env, timeout=300)
        except Failed as exc:
            raise Unavailable(f"uv could not install packages (no package index?): {exc}"
                              ) from exc
        run_command([cli, "run", "--", python, "script.py"], cwd=ws, env=env,
                    timeout=ctx.timeout)
        try:  # the first time builds the venv from the index; it is not measured
            run_command([cli, "repro", "1", "--env", "venv"], cwd=ws, env=env, timeout=600)
        except Failed as exc:
            if "uv" in str(exc) and ("index" in str(exc) or "network" in str(exc)):
                raise Unavailable(f"uv cannot reach a package index: {exc}") from exc
            raise

    def run() -> dict[str, float]:
        if state["error"] is not None:
            raise state["error"]
        if not (ws / ".cairn").exists():
            try:
                setup()
            except Exception as exc:
                state["error"] = exc
                raise
        repro = time_command([cli, "repro", "1", "--env", "venv"], cwd=ws, env=env,
                             timeout=ctx.timeout)
        bare = time_command([python, "script.py"], cwd=ws, env=env, timeout=ctx.timeout)
        return {"repro_s": repro, "bare_s": bare, "overhead_s": repro - bare}

    return Case(
        "repro --env venv, warm",
        (seconds("repro_s", "cairn repro RUN --env venv, second time"),
         seconds("bare_s", "the bare command"), seconds("overhead_s", "overhead")),
        Side("cairn", run),
        note="a script importing six and packaging from its own venv, recorded with cairn run; "
             "whole commands; the first repro (building the cached venv with uv) is not "
             "measured; no anchor",
    )


def cases(ctx: Context) -> Iterator[Case]:
    yield from _checkout_case(ctx)
    yield _verdict_case(ctx)
    yield _repro_case(ctx)

