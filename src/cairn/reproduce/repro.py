"""The ``cairn repro`` workflow: check out, rebuild the environment, re-run, compare.

The reproduction is an ordinary tracked run, linked to the original (``reproduces``), so
``cairn show``, ``ls`` and ``diff`` work on it; its record carries the original's code
state (that is the code it ran) and the full verdict under ``reproduction``.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cairn._util.sizes import human_size
from cairn.errors import InvalidInput, NotFound
from cairn.objects.local import LocalObjectStore
from cairn.project import Project
from cairn.reproduce.checkout import CheckoutResult, checkout
from cairn.reproduce.envbuild import BuiltEnv, package_mismatches
from cairn.reproduce.plan import (
    ReproPlan,
    describe_plan,
    load_plan,
    replayed_env_vars,
    safe_rel,
)
from cairn.reproduce.verify import Tolerance
from cairn.store import runs as run_store
from cairn.store.core import MetaStore

ENV_MODES = ("venv", "current", "docker")
_PYTHON_NAME = re.compile(r"(python|pypy)(\d+(\.\d+)*)?t?(\.exe)?", re.IGNORECASE)

Step = Callable[[str, str], None]
"""Called with (step, what happened) as the rebuild goes: code, inputs, environment…"""


@dataclass(frozen=True)
class ReproOptions:
    env_mode: str = "venv"
    dir: Path | None = None
    tolerance: Tolerance = field(default_factory=Tolerance)
    echo: bool = True
    use_pty: bool | None = None


@dataclass(frozen=True)
class ReproResult:
    verdict: str
    original: run_store.RunRow
    reproduction: run_store.RunRow
    report: dict[str, Any]  # the verdict as ``repro --json`` prints it

    @property
    def exit_code(self) -> int:
        return 0 if self.verdict == "REPRODUCED" else 1


def _workspace(project: Project, plan: ReproPlan, requested: Path | None) -> tuple[Path, bool]:
    """Where to check out; True when cairn chose it (and may remove it afterwards)."""
    if requested is not None:
        return requested, False
    # Under the store: the same file system as the objects, so files can be reflinked.
    return project.store_dir / "repro" / f"{plan.run.number}-{uuid.uuid4().hex[:8]}", True


def _build(plan: ReproPlan, mode: str, objects: LocalObjectStore, co: CheckoutResult
           ) -> BuiltEnv:
    from cairn.reproduce import envbuild

    env = plan.environment
    if mode == "current" or (mode == "venv" and env is None):
        # A command that was not a Python program has no packages to rebuild.
        return envbuild.current_env(env)
    if mode == "docker":
        from cairn.reproduce.docker import build_image, write_dockerfile

        if env is None:
            raise NotFound(f"run {plan.run.number} recorded no Python environment to put in "
                           "an image; use --env current")
        write_dockerfile(plan, co.dir)
        build_image(co.dir, f"cairn-repro-{plan.run.id[:12]}")
        minor = ".".join(env.python_version.split(".")[:2])
        return BuiltEnv(mode="docker", python="python", bin_dir=None, prefix=None,
                        python_version=minor, recorded_python=env.python_version,
                        source="the recorded packages, in python:" + minor + "-slim")
    from cairn.reproduce.lockfile import requirements_from_lock

    reqs = requirements_from_lock(envbuild.uv_binary(), objects, env)
    if reqs is not None:
        return envbuild.build_venv(env, reqs=reqs, source="the recorded uv.lock")
    return envbuild.build_venv(env)


def _command(plan: ReproPlan, built: BuiltEnv) -> list[str]:
    """The recorded command (its secrets supplied again), pointed at the rebuilt interpreter."""
    argv = plan.command_to_run
    first = argv[0]
    base = os.path.basename(first)
    if _PYTHON_NAME.fullmatch(base):
        argv[0] = built.python
        return argv
    recorded = plan.environment
    if recorded and recorded.prefix and built.bin_dir is not None \
            and first.startswith(recorded.prefix.rstrip("/") + "/bin/"):
        candidate = built.bin_dir / base
        if candidate.exists():
            argv[0] = str(candidate)
    return argv


def _child_env(plan: ReproPlan, built: BuiltEnv, co: CheckoutResult,
               notes: list[str]) -> dict[str, str]:
    code_root = plan.code.root if plan.code is not None else None
    env, more = replayed_env_vars(plan.env_vars, code_root, co.dir)
    notes.extend(more)
    if built.bin_dir is not None:
        env["PATH"] = os.pathsep.join(
            p for p in (str(built.bin_dir), os.environ.get("PATH", "")) if p
        )
    if built.prefix is not None:
        env["VIRTUAL_ENV"] = str(built.prefix)
    return env


def reproduce(
    project: Project, store: MetaStore, run: run_store.RunRow, opts: ReproOptions,
    *, on_step: Step | None = None, progress: Callable[[int, int], None] | None = None,
) -> ReproResult:
    """Rebuild ``run`` and compare; the verdict is stored with the new run."""
    if opts.env_mode not in ENV_MODES:
        raise InvalidInput(f"unknown environment {opts.env_mode!r}; expected one of "
                           f"{', '.join(ENV_MODES)}")
    objects = LocalObjectStore(project.objects_dir)
    # Secrets redacted from the command are asked for now, before anything is rebuilt.
    plan = load_plan(project, store, objects, run).with_secrets()
    step = on_step or (lambda _name, _detail: None)
    step("start", describe_plan(plan))
    dest, chosen = _workspace(project, plan, opts.dir)
    co = checkout(project, objects, plan, dest, with_outputs=False, progress=progress)
    keep = not chosen
    try:
        files = f"{co.code_files} file{'s' if co.code_files != 1 else ''}"
        step("code", files if plan.code else "none recorded")
        n = len(plan.inputs)
        step("inputs", f"{n} input{'s' if n != 1 else ''}, {human_size(co.data_bytes)}" if n
             else "none declared")
        try:
            built = _build(plan, opts.env_mode, objects, co)
        except NotFound:
            keep = keep or opts.env_mode == "docker"  # the Dockerfile stays for the user
            raise
        recorded = plan.environment.packages if plan.environment else {}
        mismatches: list[dict[str, str | None]] = []
        if recorded and built.mode != "docker":
            from cairn.reproduce.envbuild import installed_packages

            mismatches = package_mismatches(recorded, installed_packages(built.python))
        step("environment", _env_line(built))
        if built.python_note:
            step("python", built.python_note)
        if mismatches and built.mode == "current":
            step("packages", _mismatch_line(mismatches))
        notes: list[str] = list(co.warnings)
        if built.python_note:
            notes.append(built.python_note)
        new = _run(project, store, plan, built, co, opts, notes)
        from cairn.reproduce.report import build_report

        if built.mode == "docker":
            mismatches = _mismatches_after(objects, plan, new)
        report = build_report(project, store, objects, plan, new, built, co, opts.tolerance,
                              mismatches, notes)
        verdict = str(report["verdict"])
        keep = keep or verdict != "REPRODUCED"
        report["reproduction"]["dir"] = str(co.base) if keep else None
        with store.db.write() as w:
            run_store.set_run_fields(w, new.id, verdict=verdict)
            run_store.update_record(w, new.id, lambda r: replace(r, reproduction=report))
        return ReproResult(verdict, run, run_store.get_run(store, new.id), report)
    finally:
        if not keep:
            shutil.rmtree(co.dir, ignore_errors=True)


def _run(project: Project, store: MetaStore, plan: ReproPlan, built: BuiltEnv,
         co: CheckoutResult, opts: ReproOptions, notes: list[str]) -> run_store.RunRow:
    from cairn.runner.track import RunOptions, run_tracked
    from cairn.store.artifacts import ArtifactRow, add_artifacts

    env = _child_env(plan, built, co, notes)
    cwd = co.dir / plan.cwd_rel if plan.cwd_rel else co.dir
    cwd.mkdir(parents=True, exist_ok=True)
    argv = _command(plan, built)
    if built.mode == "docker":
        from cairn.reproduce.docker import write_launcher

        launcher = write_launcher(co.dir, f"cairn-repro-{plan.run.id[:12]}", argv, cwd,
                                  project.store_dir, env)
        argv = [str(launcher)]
    params: dict[str, Any] = {}
    params_file = _declared(co, plan.params_file, "params file", notes)
    if plan.params_file and params_file is None:
        params = run_store.get_params(store, [plan.run.id])[plan.run.id]
    tracked = run_tracked(
        Project(root=co.base.resolve(), store_dir=project.store_dir),
        store,
        argv,
        RunOptions(
            message=f"reproduces run {plan.run.number}",
            outputs=[co.base / o.path for o in plan.outputs],
            params_file=params_file,
            metrics_file=_declared(co, plan.metrics_file, None, notes),
            params=params,
            lineage={"reproduces": plan.run.id},
            env=env,
            cwd=cwd,
            echo=opts.echo,
            use_pty=opts.use_pty,
            code=plan.code,
        ),
    )
    # The inputs were restored from the original's objects and rehashed: record them as such.
    with store.db.write() as w:
        add_artifacts(w, [
            ArtifactRow(tracked.run.id, "input", i.path, i.oid, i.size, i.is_tree)
            for i in plan.inputs
        ])
    return run_store.get_run(store, tracked.run.id)


def _declared(co: CheckoutResult, rel: str | None, what: str | None,
              notes: list[str]) -> Path | None:
    if not rel:
        return None
    if not safe_rel(rel):
        notes.append(f"the {what or 'metrics file'} {rel} was outside the project")
        return None
    path = co.base / rel
    if what is not None and not path.exists():
        notes.append(f"the {what} {rel} is not part of the recorded code; "
                     "the recorded params are used")
        return None
    return path


def _mismatches_after(objects: LocalObjectStore, plan: ReproPlan,
                      new: run_store.RunRow) -> list[dict[str, str | None]]:
    from cairn.reproduce.plan import environment_of

    recorded = plan.environment.packages if plan.environment else {}
    used = environment_of(objects, new.record.env)
    if not recorded or used is None:
        return []
    return package_mismatches(recorded, used.packages)



def _env_line(built: BuiltEnv) -> str:
    if built.mode == "current":
        return f"cairn's own interpreter (Python {built.python_version})"
    if built.mode == "docker":
        return f"image built from {built.source}"
    how = "reused the cached venv" if built.cached else "venv built with uv"
    text = f"{how} from {built.source} ({built.seconds:.1f} s)"
    if built.not_rebuildable:
        text += f"; {len(built.not_rebuildable)} package(s) could not be installed"
    return text


def _mismatch_line(mismatches: list[dict[str, str | None]]) -> str:
    shown = ", ".join(f"{m['name']} {m['recorded']} → {m['used'] or 'missing'}"
                      for m in mismatches[:8])
    more = f" and {len(mismatches) - 8} more" if len(mismatches) > 8 else ""
    return f"{len(mismatches)} differ from the record: {shown}{more}"

