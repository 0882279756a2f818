"""The ``cairn fork`` workflow: check a run out, change what was asked, run it tracked.

Order matters, as in ``cairn run``: the overrides are checked against the checkout before
anything runs, and any mistake (an unknown param, an input the run never had, a folder
swapped for a file) removes the checkout and records nothing. The fork is an ordinary
tracked run linked ``forked_from`` the original; its record carries what was changed under
``fork``. Inputs left alone are recorded with the original's objects (they were restored and
rehashed); swapped and added ones are hashed anew.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cairn.errors import NotFound
from cairn.fork.inputs import AddedInput, add_inputs, apply_swaps
from cairn.fork.overrides import Change, InputSwap, add_flag, same_value, set_flag
from cairn.objects.local import LocalObjectStore
from cairn.project import Project
from cairn.reproduce.checkout import CheckoutResult, checkout
from cairn.reproduce.plan import ReproPlan, load_plan, replayed_env_vars, safe_rel
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.record import ForkNote
from cairn.store.record_parts import CodeState

_PYTHON_NAME = re.compile(r"(python|pypy)(\d+(\.\d+)*)?t?(\.exe)?", re.IGNORECASE)


@dataclass(frozen=True)
class ForkOptions:
    sets: Mapping[str, str] = field(default_factory=dict)
    swaps: Sequence[InputSwap] = ()
    added: Sequence[AddedInput] = ()
    command: Sequence[str] | None = None  # replaces the recorded command
    dir: Path | None = None  # check out here and keep it
    name: str | None = None
    message: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    echo: bool = True
    use_pty: bool | None = None


@dataclass(frozen=True)
class ForkResult:
    original: run_store.RunRow
    fork: run_store.RunRow
    exit_code: int
    changes: tuple[Change, ...]
    warnings: tuple[str, ...]
    dir: Path | None  # the checkout, when it was kept


Step = Callable[[str], None]


def fork_run(project: Project, store: MetaStore, run: run_store.RunRow, opts: ForkOptions,
             *, progress: Callable[[int, int], None] | None = None,
             on_ready: Step | None = None) -> ForkResult:
    """Re-run ``run`` with ``opts`` applied; ``on_ready`` hears a line before the child starts."""
    objects = LocalObjectStore(project.objects_dir)
    plan = load_plan(project, store, objects, run, need_command=not opts.command)
    argv = list(opts.command) if opts.command else plan.command_to_run  # secrets supplied
    keep = opts.dir is not None  # a folder the user named stays; cairn's own goes when done
    dest = opts.dir if opts.dir is not None else \
        project.store_dir / "fork" / f"{run.number}-{uuid.uuid4().hex[:8]}"
    existed = dest.is_dir()
    co = checkout(project, objects, plan, dest, with_outputs=False, progress=progress)
    try:
        warnings = list(co.warnings)
        changes: list[Change] = []
        recorded = run_store.get_params(store, [run.id])[run.id]
        argv, code_files = _apply_sets(plan, co, argv, opts.sets, recorded, changes, warnings)
        hashed = apply_swaps(plan, co, opts.swaps, changes)
        env_paths = add_inputs(co, opts.added, changes, hashed)
        if opts.command:
            changes.append(Change("command", "command", plan.argv, argv, "given after --"))
        cwd = co.dir / plan.cwd_rel if plan.cwd_rel else co.dir
        argv = _interpreter(argv, cwd, plan.run.cwd, warnings)
        code = _code_record(project, objects, plan, code_files)
    except BaseException:  # a mistake in what was asked: nothing ran, so nothing stays
        shutil.rmtree(co.dir, ignore_errors=True)
        if existed:
            co.dir.mkdir()
        raise
    try:
        if on_ready is not None:
            on_ready(_ready_line(run, changes))
        new = _run(project, store, plan, co, argv, opts, hashed, env_paths, code, warnings)
    except BaseException:
        if not keep:
            shutil.rmtree(co.dir, ignore_errors=True)
        raise
    note = ForkNote(
        from_run=run.id, from_number=run.number,
        set=dict(opts.sets), inputs={s.path: str(s.source) for s in opts.swaps},
        added={a.path: str(a.source) for a in opts.added},
        env_inputs={a.env_var: a.path for a in opts.added if a.env_var},
        command=tuple(opts.command) if opts.command else None,
        dir=str(co.dir),
    )
    with store.db.write() as w:
        run_store.update_record(w, new.run.id, lambda r: replace(r, fork=note))
        if plan.run.cwd:  # where it ran, as seen from the recorded code root: so repro finds it
            run_store.set_run_fields(w, new.run.id, cwd=plan.run.cwd)
    warnings += _unapplied(store, new.run.id, opts.sets)
    keep = keep or new.exit_code != 0
    if not keep:
        shutil.rmtree(co.dir, ignore_errors=True)
    return ForkResult(run, run_store.get_run(store, new.run.id), new.exit_code, tuple(changes),
                      tuple(warnings), co.base if keep else None)


def _ready_line(run: run_store.RunRow, changes: list[Change]) -> str:
    parts = []
    for c in changes:
        if c.kind == "param":
            before = "-" if c.before is None else c.before
            parts.append(f"{c.key} {before} → {c.after} ({c.where})")
        elif c.kind == "input":
            parts.append(f"{c.key} ← {c.after}")
        else:
            parts.append("a new command")
    return f"run {run.number}" + (f" with {', '.join(parts)}" if parts else " unchanged")


# -- params -------------------------------------------------------------------------------------
def _apply_sets(plan: ReproPlan, co: CheckoutResult, argv: list[str], sets: Mapping[str, str],
                recorded: Mapping[str, Any], changes: list[Change],
                warnings: list[str]) -> tuple[list[str], dict[str, Path]]:
    """Rewrite the params file and the command line; the code files that changed."""
    from cairn.capture.params import load_params_file

    params_file = _params_file(plan, co)
    in_file = load_params_file(params_file) if params_file is not None and sets else {}
    file_sets = {k: v for k, v in sets.items() if k in in_file}
    for key, value in sets.items():
        where = []
        if key in file_sets:
            where.append(f"params file {plan.params_file}")
        changed = set_flag(argv, key, value)
        if changed is not None:
            argv = changed
            where.append("command line")
        elif key not in file_sets:
            if key not in recorded:
                raise NotFound(f"run {plan.run.number} has no param {key!r}",
                               hint=_params_hint(recorded))
            added = add_flag(argv, key, value)
            if added is None:
                warnings.append(f"{key} cannot be turned off: its switch is not on the "
                                "command line")
                continue
            argv = added
            where.append("added to the command line")
        changes.append(Change("param", key, recorded.get(key, in_file.get(key)), value,
                              " and ".join(where)))
    if not file_sets or params_file is None or plan.params_file is None:
        return argv, {}
    from cairn.fork.paramfile import rewrite_params_file

    rewrite_params_file(params_file, file_sets)
    rel = "/".join(p for p in (plan.project_rel, plan.params_file) if p)
    return argv, {rel: params_file}


def _params_file(plan: ReproPlan, co: CheckoutResult) -> Path | None:
    if not plan.params_file or not safe_rel(plan.params_file):
        return None
    path = co.base / plan.params_file
    return path if path.is_file() else None


def _params_hint(recorded: Mapping[str, Any]) -> str:
    if not recorded:
        return "it recorded no params; change its command instead: cairn fork RUN -- CMD ..."
    names = sorted(recorded)
    more = f" and {len(names) - 12} more" if len(names) > 12 else ""
    return f"its params: {', '.join(names[:12])}{more}"


def _unapplied(store: MetaStore, run_id: str, sets: Mapping[str, str]) -> list[str]:
    """Overrides the forked run did not end up recording: the script may read them elsewhere."""
    got = run_store.get_params(store, [run_id])[run_id]
    return [f"the fork recorded {key} = {got[key]!r}, not {value}; the script may not read "
            "it from where it was changed" for key, value in sets.items()
            if key in got and not same_value(got[key], value)]


# -- running ------------------------------------------------------------------------------------
def _interpreter(argv: list[str], cwd: Path, original_cwd: str | None,
                 warnings: list[str]) -> list[str]:
    """The program to start, when the recorded path does not exist in the checkout.

    A relative path (``.venv/bin/python``) is tried from the original working folder, since
    environments are rarely part of the code; a missing absolute one (another machine's
    interpreter) is replaced by the same name on ``PATH``.
    """
    first = argv[0]
    if os.sep not in first or (cwd / first).exists():
        return argv
    if not os.path.isabs(first) and original_cwd and (Path(original_cwd) / first).exists():
        return [str(Path(original_cwd) / first), *argv[1:]]
    name = os.path.basename(first)
    found = shutil.which(name) or (shutil.which("python3") if _PYTHON_NAME.fullmatch(name)
                                   else None)
    if found is None:
        raise NotFound(f"the run's program {first} does not exist here, nor {name} on PATH",
                       hint="give the command to use after --: cairn fork RUN -- CMD ...")
    warnings.append(f"{first} does not exist here; {found} was used")
    return [found, *argv[1:]]


def _code_record(project: Project, objects: LocalObjectStore, plan: ReproPlan,
                 files: Mapping[str, Path]) -> CodeState | None:
    if not files or plan.code is None:
        return plan.code
    from cairn.capture.code import find_git_root
    from cairn.fork.coderecord import with_changed_files

    repo = find_git_root(project.root)
    if repo is None and plan.code.root:
        repo = find_git_root(Path(plan.code.root))
    return with_changed_files(objects, plan.code, repo, files)


@dataclass(frozen=True)
class _Tracked:
    run: run_store.RunRow
    exit_code: int


def _run(project: Project, store: MetaStore, plan: ReproPlan, co: CheckoutResult,
         argv: list[str], opts: ForkOptions, hashed: list[str], env_paths: Mapping[str, str],
         code: CodeState | None, warnings: list[str]) -> _Tracked:
    from cairn.runner.track import RunOptions, run_tracked
    from cairn.store.artifacts import ArtifactRow, add_artifacts

    code_root = plan.code.root if plan.code is not None else None
    env, notes = replayed_env_vars(plan.env_vars, code_root, co.dir)
    warnings.extend(notes)
    env.update(opts.env)
    env.update(env_paths)
    cwd = co.dir / plan.cwd_rel if plan.cwd_rel else co.dir
    cwd.mkdir(parents=True, exist_ok=True)
    metrics_file = co.base / plan.metrics_file if plan.metrics_file and \
        safe_rel(plan.metrics_file) else None
    tracked = run_tracked(
        Project(root=co.base.resolve(), store_dir=project.store_dir),
        store,
        argv,
        RunOptions(
            name=opts.name,
            message=opts.message or f"fork of run {plan.run.number}",
            tags=opts.tags,
            inputs=[co.base / p for p in hashed],
            outputs=[co.base / o.path for o in plan.outputs],
            params_file=_params_file(plan, co),
            metrics_file=metrics_file,
            lineage={"forked_from": plan.run.id},
            env=env,
            cwd=cwd,
            echo=opts.echo,
            use_pty=opts.use_pty,
            code=code,
        ),
    )
    kept = [i for i in plan.inputs if i.path not in hashed]
    with store.db.write() as w:
        add_artifacts(w, [ArtifactRow(tracked.run.id, "input", i.path, i.oid, i.size, i.is_tree)
                          for i in kept])
    return _Tracked(tracked.run, tracked.exit_code)


# -- runs on a remote ---------------------------------------------------------------------------
def resolve_source(project: Project, store: MetaStore, ref: str,
                   on_pull: Step | None = None) -> tuple[run_store.RunRow, str | None]:
    """The run ``ref`` names; ``REMOTE:RUN`` pulls it first. Also the remote pulled from."""
    from cairn.store.resolve import resolve_run

    name, sep, rest = ref.partition(":")
    if not sep or not name or not rest:
        return resolve_run(store, ref), None
    from cairn.remote.config import get_remote, list_remotes

    if name not in {r.name for r in list_remotes(project)}:
        try:
            return resolve_run(store, ref), None  # a run whose name holds a colon
        except NotFound:
            raise NotFound(f"no remote is named {name!r}, so {ref!r} cannot be fetched",
                           hint=f"add it: cairn remote add {name} URL (see: cairn remote ls)"
                           ) from None
    from cairn.remote.base import open_remote
    from cairn.remote.pull import pull_run

    if on_pull is not None:
        on_pull(f"pulling {ref}")
    client = open_remote(get_remote(project, name))
    try:
        pulled = pull_run(store, LocalObjectStore(project.objects_dir), client, rest)
    finally:
        client.close()
    return pulled.run, name

