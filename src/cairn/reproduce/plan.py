"""What a recorded run needs to be rebuilt: its code, data, command and environment.

Everything here is read from the record and checked before anything is written or run, so
that a run that cannot be rebuilt (a snapshot with no command, a run still going) is refused
with one sentence and nothing half-done left behind.

Secrets redacted from the recorded command (``capture.secrets``) are supplied again only for
the command that is run (``command_to_run``: from ``CAIRN_SECRET_*`` variables or the
terminal); ``argv`` stays the recorded, redacted command for everything that is shown.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from cairn.capture.envvars import REDACTED
from cairn.capture.secrets import ask_terminal, restore_argv
from cairn.errors import Conflict, InvalidInput
from cairn.objects.base import ObjectStore
from cairn.project import Project
from cairn.store.artifacts import ArtifactRow, list_artifacts
from cairn.store.core import MetaStore
from cairn.store.record_parts import CodeState, Environment, Redaction
from cairn.store.runs import RunRow

#: Recorded variables that describe the recording machine rather than the computation.
NOT_REPLAYED = frozenset({"VIRTUAL_ENV", "CONDA_DEFAULT_ENV"})


@dataclass(frozen=True)
class DataFile:
    """A declared input or output, at ``path`` relative to the project root."""

    kind: str
    path: str
    oid: str
    size: int
    is_tree: bool


@dataclass(frozen=True)
class ReproPlan:
    """A run as the rebuild sees it. Paths are relative to the checkout folder."""

    run: RunRow
    code: CodeState | None
    project_rel: str  # where the project root sits inside the code root ("" = the same)
    cwd_rel: str  # the working folder, relative to the checkout folder
    inputs: tuple[DataFile, ...]
    outputs: tuple[DataFile, ...]
    outside: tuple[DataFile, ...]  # declared files outside the project: not restorable
    environment: Environment | None
    env_vars: Mapping[str, str]
    params_file: str | None
    metrics_file: str | None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    secrets: tuple[Redaction, ...] = ()  # redacted arguments of the recorded command
    supplied: tuple[str, ...] | None = None  # the command with them put back

    @property
    def argv(self) -> list[str]:
        """The recorded command, secrets redacted: what may be shown or written anywhere."""
        return list(self.run.command or [])

    def with_secrets(self, environ: Mapping[str, str] | None = None) -> ReproPlan:
        """This plan with its redacted arguments supplied again; refuses in one sentence
        naming the variable when one is given neither in ``environ`` nor at the terminal."""
        if not self.secrets or self.supplied is not None:
            return self
        restored = restore_argv(self.argv, self.secrets,
                                os.environ if environ is None else environ, ask_terminal)
        return replace(self, supplied=tuple(restored))

    @property
    def command_to_run(self) -> list[str]:
        """The command to execute: the recorded one with its secrets supplied again."""
        return list(self.with_secrets().supplied or self.argv)

    @property
    def data(self) -> tuple[DataFile, ...]:
        return self.inputs + self.outputs


def _posix_rel(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` with ``/``, or None when it is not inside."""
    try:
        rel = PurePosixPath(path).relative_to(PurePosixPath(root))
    except ValueError:
        return None
    return "" if str(rel) == "." else rel.as_posix()


def safe_rel(path: str) -> bool:
    """Whether a recorded relative path stays inside the folder it is restored into."""
    parts = PurePosixPath(path).parts
    return bool(parts) and not PurePosixPath(path).is_absolute() and ".." not in parts


def environment_of(objects: ObjectStore, env: Environment | None) -> Environment | None:
    """The recorded interpreter with its package list loaded; None when none was recorded."""
    if env is None or not env.python_version:
        return None
    if not env.packages and env.packages_oid:
        from cairn.capture.environment import load_packages

        try:
            packages, direct = load_packages(objects, env.packages_oid)
        except Exception:
            return env  # the package list object is gone; the rebuild says what it lacks
        env = replace(
            env, packages={str(k): str(v) for k, v in packages.items()},
            direct_urls={str(k): dict(v) for k, v in direct.items()},
        )
    return env


def replayed_env_vars(
    recorded: Mapping[str, str], code_root: str | None, checkout: Path | None
) -> tuple[dict[str, str], list[str]]:
    """The recorded variables to set again, and sentences about those that cannot be.

    Secrets were never recorded (``***``): the current value is used, if any. ``PYTHONPATH``
    entries inside the recorded code root are moved into the checkout.
    """
    out: dict[str, str] = {}
    notes: list[str] = []
    for name, value in recorded.items():
        if name in NOT_REPLAYED or name.startswith("CAIRN_"):
            continue
        if value == REDACTED:
            notes.append(f"{name} was set but not recorded (it looks secret); "
                         "the current value is used")
            continue
        if name == "PYTHONPATH" and code_root and checkout is not None:
            parts = []
            for entry in value.split(os.pathsep):
                rel = _posix_rel(entry, code_root) if entry else None
                parts.append(str(checkout / rel) if rel is not None else entry)
            value = os.pathsep.join(parts)
        out[name] = value
    return out, notes


def load_plan(
    project: Project, store: MetaStore, objects: ObjectStore, run: RunRow,
    *, need_command: bool = True,
) -> ReproPlan:
    """Read what ``run`` recorded; refuse runs that cannot be rebuilt."""
    if run.status == "running":
        raise Conflict(f"run {run.number} is still running; reproduce it once it has ended")
    if need_command and not run.command:
        raise InvalidInput(
            f"run {run.number} is a snapshot: it ran no command, so there is nothing to re-run",
            hint=f"cairn checkout {run.number} restores its code and data",
        )
    record = run.record
    code = record.code
    code_root = code.root if code is not None and code.root else str(project.root)
    project_rel = _posix_rel(str(project.root), code_root) or ""
    warnings: list[str] = []
    if code is None:
        warnings.append(f"run {run.number} recorded no code; only its data is restored")
    cwd_rel = ""
    if run.cwd:
        rel = _posix_rel(run.cwd, code_root)
        if rel is None:
            warnings.append(f"the run's working folder {run.cwd} was outside its code; "
                            "the command runs at the top of the checkout")
        cwd_rel = rel or ""
    inputs: list[DataFile] = []
    outputs: list[DataFile] = []
    outside: list[DataFile] = []
    for art in list_artifacts(store, run.id):
        if art.kind not in ("input", "output"):
            continue
        item = _data_file(art)
        if not safe_rel(item.path):
            outside.append(item)
            warnings.append(f"the {item.kind} {item.path} lies outside the project and is "
                            "not restored")
        else:
            (inputs if art.kind == "input" else outputs).append(item)
    return ReproPlan(
        run=run,
        code=code,
        project_rel=project_rel,
        cwd_rel=cwd_rel,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        outside=tuple(outside),
        environment=environment_of(objects, record.env),
        env_vars=dict(record.env_vars),
        params_file=record.params_file,
        metrics_file=record.metrics_file,
        warnings=tuple(warnings),
        secrets=record.redacted,
    )


def _data_file(art: ArtifactRow) -> DataFile:
    return DataFile(art.kind, art.path, art.oid, art.size, art.is_tree)


def describe_plan(plan: ReproPlan) -> str:
    """``commit 3f2a9c1 + uncommitted diff, 2 input files, 84 packages``."""
    parts: list[str] = []
    code = plan.code
    if code is not None and code.kind == "git":
        head = f"commit {code.commit[:7]}" if code.commit else "a repository with no commit"
        extras = []
        if code.diff_oid:
            extras.append("uncommitted diff")
        if code.untracked is not None:
            extras.append(f"{code.untracked.count} untracked")
        parts.append(" + ".join([head, *extras]))
    elif code is not None:
        count = code.snapshot.count if code.snapshot else 0
        parts.append(f"{count} source files")
    if plan.inputs:
        parts.append(f"{len(plan.inputs)} input{'s' if len(plan.inputs) != 1 else ''}")
    env = plan.environment
    if env is not None:
        parts.append(f"Python {env.python_version}, {len(env.packages)} packages")
    return ", ".join(parts) or "no code recorded"
