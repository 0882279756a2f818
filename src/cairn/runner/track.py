"""Running a command tracked, and snapshotting the current state: the ``cairn run`` workflow.

Order matters: everything that can fail because of the user's input (a missing ``-i`` path, a
params file that does not parse) fails before the run is recorded or the command started.
Then the cheap captures (code, host, inputs) happen, the run is opened as ``running``, the
child runs with ``CAIRN_RUN_ID`` and the bootstrap on its path, and at the end outputs, the
log, the child's own interpreter and argparse params are stored and the run is closed.

Secrets on the command line (``--api-key X``, URL passwords) are redacted before anything is
recorded (``capture.secrets``); the child still gets the real words. An output that cannot be
stored because the disk is full does not lose the run: it is recorded with the status the
command ended with, the output named under ``not_stored``, and one sentence for the user.
"""

from __future__ import annotations

import json
import os
import random
import shlex
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput, NotFound, StoreFull
from cairn.objects.local import LocalObjectStore
from cairn.project import Project
from cairn.settings import Env, Internal, env_db_url, load_settings
from cairn.store import runs as run_store
from cairn.store.artifacts import ArtifactRow, add_artifacts
from cairn.store.core import MetaStore
from cairn.store.metrics import write_series
from cairn.store.record import NotStored, RunRecord
from cairn.store.record_parts import CodeState, Environment, LockFile
from cairn.store.series import Series

BOOTSTRAP_DIR = Path(__file__).parent / "bootstrap"
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RunOptions:
    name: str | None = None
    message: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    inputs: Sequence[Path] = ()
    outputs: Sequence[Path] = ()
    params_file: Path | None = None
    metrics_file: Path | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # set by fork/repro
    lineage: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)  # extra variables for the child
    cwd: Path | None = None
    echo: bool = True
    use_pty: bool | None = None
    code: CodeState | None = None  # set by fork and repro: the code restored, so not captured


@dataclass(frozen=True)
class TrackedRun:
    run: run_store.RunRow
    exit_code: int
    error: str | None = None


def parse_tags(pairs: Sequence[str]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"a tag is written KEY=VALUE, not {pair!r}")
        tags[key.strip()] = value
    return tags


def _check_paths(paths: Sequence[Path], what: str) -> None:
    for path in paths:
        if not path.exists():
            raise NotFound(f"the {what} {str(path)!r} does not exist; nothing was run")


def _rel(project: Project, path: Path) -> str:
    absolute = path.resolve()
    try:
        return absolute.relative_to(project.root).as_posix()
    except ValueError:
        return str(absolute)


def _stat_cache(store: MetaStore) -> Any:
    from cairn.objects.statcache import StatCache

    return StatCache(store.db)


def store_paths(
    project: Project,
    store: MetaStore,
    objects: LocalObjectStore,
    run_id: str,
    paths: Sequence[Path],
    kind: str,
    progress: Progress | None = None,
) -> list[ArtifactRow]:
    """Hash files or folders into objects and attach them to the run."""
    from cairn.objects.statcache import StatCache
    from cairn.objects.tree import snapshot_path

    cache = StatCache(store.db)
    rows = []
    for path in paths:
        if not path.exists():
            continue
        label = _rel(project, path)
        report = (lambda done, total, _l=label: progress(_l, done, total)) if progress else None
        ref, is_tree = snapshot_path(objects, path, stat_cache=cache, progress=report)
        rows.append(ArtifactRow(run_id, kind, label, ref.oid, ref.size, is_tree))
    with store.db.write() as w:
        add_artifacts(w, rows)
    return rows


def _store_outputs(
    project: Project, store: MetaStore, objects: LocalObjectStore, run_id: str,
    paths: Sequence[Path], log_path: Path, progress: Progress | None,
) -> list[NotStored]:
    """Store the outputs and the log one by one; those a full disk refused, with why.

    The command has already run: a full disk must not cost the user the record of it, so
    each refusal is noted and the others are still stored.
    """
    from cairn.history.logs import LOG_NAME

    refused: list[NotStored] = []
    for path in paths:
        try:
            store_paths(project, store, objects, run_id, [path], "output", progress)
        except StoreFull as exc:
            refused.append(NotStored(_rel(project, path), exc.message))
    if log_path.exists():
        try:
            oid = objects.put_file(log_path)
        except StoreFull as exc:
            refused.append(NotStored(LOG_NAME, exc.message))
        else:
            with store.db.write() as w:
                add_artifacts(w, [ArtifactRow(run_id, "log", LOG_NAME, oid,
                                              log_path.stat().st_size, False)])
    return refused


def not_stored_sentence(refused: Sequence[NotStored], store_dir: Path) -> str:
    """One sentence for the user about outputs a full disk kept out of the store."""
    names = ", ".join(repr(r.path) for r in refused)
    what = "the output" if len(refused) == 1 else f"{len(refused)} outputs,"
    return (f"{what} {names} could not be stored: the disk holding {store_dir} is full; "
            "the run is recorded without it (free some space and cairn snapshot -o PATH)")


def _capture_record(
    project: Project,
    objects: LocalObjectStore,
    argv: Sequence[str] | None,
    settings_env: Sequence[str],
    size_limit: int,
    environ: Mapping[str, str] = os.environ,
    known_code: CodeState | None = None,
    data_paths: Sequence[Path] = (),
    stat_cache: Any = None,
) -> tuple[RunRecord, str]:
    """Code, host and environment variables; returns the record and PYTHONHASHSEED used.

    ``data_paths`` (the declared inputs and outputs) are stored as data, not again as code.
    """
    from cairn.capture.code import capture_code
    from cairn.capture.envvars import capture_env_vars
    from cairn.capture.host import capture_host

    code = known_code if known_code is not None else capture_code(
        project.root, objects, size_limit=size_limit, stat_cache=stat_cache, exclude=data_paths)
    seed = environ.get("PYTHONHASHSEED") or str(random.randint(1, 2**32 - 1))
    env_vars = capture_env_vars(environ, settings_env)
    env_vars["PYTHONHASHSEED"] = seed
    return RunRecord(
        source="run" if argv else "snapshot", code=code,
        warnings=() if known_code is not None else code.warnings, host=capture_host(),
        env_vars=env_vars,
    ), seed


def _store_environment(
    objects: LocalObjectStore,
    project: Project,
    report: Mapping[str, Any] | None,
    python_exe: str | None,
) -> Environment:
    """The child's interpreter as the bootstrap reported it (or asked of it afterwards)."""
    from cairn.capture import environment as envcap

    locks = tuple(LockFile(path, oid) for path, oid in envcap.lock_files(project.root, objects))
    env = None
    if report:
        env = envcap.environment_from_report(report)
    elif python_exe:
        env = envcap.capture_environment_of(python_exe)
    if env is None:
        return Environment.lock_files_only(locks)
    return envcap.store_packages(replace(env, lock_files=locks), objects)


def _metrics_from_file(path: Path) -> dict[str, Series]:
    from array import array

    from cairn.capture.params import load_metrics_file

    ms = time.time_ns() // 1_000_000
    return {
        k: Series(array("q", [0]), array("d", [float(v)]), array("q", [ms]))
        for k, v in load_metrics_file(path).items()
    }


class _Heartbeat:
    """Keeps a live run's heartbeat fresh and samples system metrics into ``sys/*``."""

    def __init__(self, store: MetaStore, run_id: str, sys_interval_s: float,
                 heartbeat_interval_s: float) -> None:
        self._store = store
        self._run_id = run_id
        self._interval = min(sys_interval_s, heartbeat_interval_s)
        self._sys_interval = sys_interval_s
        self._stop = threading.Event()
        self._pid: int | None = None
        self._sampler: Any = None
        self._thread = threading.Thread(target=self._loop, name="cairn-heartbeat", daemon=True)
        self._thread.start()

    def child_started(self, pid: int) -> None:
        self._pid = pid
        try:
            from cairn.capture.sysmetrics import SystemSampler

            self._sampler = SystemSampler(
                pid, interval=self._sys_interval, on_sample=self._on_sample
            )
        except Exception:  # system metrics are a nicety; the run goes on without them
            self._sampler = None

    def _on_sample(self, values: Mapping[str, float], t: float) -> None:
        from array import array

        ms = int(t * 1000)
        series = {
            k: Series(array("q", [int(t)]), array("d", [float(v)]), array("q", [ms]))
            for k, v in values.items()
        }
        try:
            with self._store.db.write() as w:
                write_series(w, self._run_id, series)
        except Exception:
            pass

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                with self._store.db.write() as w:
                    run_store.heartbeat(w, [self._run_id])
            except Exception:
                pass

    def stop(self) -> None:
        self._stop.set()
        if self._sampler is not None:
            try:
                self._sampler.stop()
            except Exception:
                pass
        self._thread.join(timeout=5)


def run_tracked(
    project: Project,
    store: MetaStore,
    argv: Sequence[str],
    opts: RunOptions,
    progress: Progress | None = None,
) -> TrackedRun:
    """Run ``argv`` as a tracked child; returns the finished run and the child's exit code."""
    from cairn.capture.environment import python_of_command
    from cairn.capture.params import load_params_file, params_from_argv
    from cairn.history.logs import live_log_path
    from cairn.runner.launch import launch

    if not argv:
        raise InvalidInput("no command given", hint="cairn run [OPTIONS] -- CMD [ARGS...]")
    _check_paths(opts.inputs, "input")
    from cairn.capture.secrets import redact_argv, redact_params

    shown, redactions = redact_argv(argv)  # what is recorded: never a secret
    params: dict[str, Any] = {}
    if opts.params_file is not None:
        _check_paths([opts.params_file], "params file")
        params.update(load_params_file(opts.params_file))
    settings = load_settings(project.store_dir)
    cwd = (opts.cwd or Path.cwd()).resolve()
    env = dict(os.environ)
    env.update(opts.env)
    python_exe = python_of_command(list(argv), env)
    if python_exe is None:
        params.update(params_from_argv(shown[1:]))
    params.update(opts.params)
    params = redact_params(params)

    objects = LocalObjectStore(project.objects_dir)
    record, seed = _capture_record(
        project, objects, argv, settings.capture_env, settings.source_size_limit, env, opts.code,
        [*opts.inputs, *opts.outputs], _stat_cache(store),
    )
    record = replace(  # the params and metrics files relative: so that repro reads the same
        record, argv=tuple(shown), redacted=tuple(redactions),
        params_file=None if opts.params_file is None else _rel(project, opts.params_file),
        metrics_file=None if opts.metrics_file is None else _rel(project, opts.metrics_file),
    )
    with store.db.write() as w:
        run = run_store.create_run(
            w,
            store.project_id,
            name=opts.name,
            message=opts.message,
            command=shown,
            cwd=str(cwd),
            params=params,
            tags=opts.tags,
            record=record,
            lineage=opts.lineage,
        )
    store_paths(project, store, objects, run.id, opts.inputs, "input", progress)

    log_path = live_log_path(project, run.id)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    boot_out = log_path.parent / "boot.json"
    env.update(
        {
            Internal.RUN_ID: run.id,
            Env.DIR: str(project.store_dir),
            Internal.BOOT_OUT: str(boot_out),
            "PYTHONHASHSEED": seed,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(BOOTSTRAP_DIR), env.get("PYTHONPATH", "")) if p
            ),
        }
    )
    if python_exe is not None:
        env.setdefault("PYTHONUNBUFFERED", "1")  # so `cairn logs --follow` sees output live
    db_url = env_db_url()
    if db_url:
        env[Env.DB] = db_url  # the script writes where this run was created
    beat = _Heartbeat(store, run.id, settings.sys_metrics_interval_s,
                      settings.heartbeat_interval_s)
    try:
        result = launch(
            list(argv),
            cwd=cwd,
            env=env,
            log_path=log_path,
            use_pty=opts.use_pty,
            on_start=beat.child_started,
            echo=opts.echo,
        )
    finally:
        beat.stop()

    boot: dict[str, Any] = {}
    if boot_out.exists():
        try:
            boot = json.loads(boot_out.read_text())
        except (OSError, ValueError):
            boot = {}
        boot_out.unlink(missing_ok=True)  # it holds the child's real argv, secrets and all
    env_record = (_store_environment(objects, project, boot.get("interpreter"), python_exe)
                  if python_exe is not None or boot else None)
    launch_error = [result.error] if result.error else []
    metrics = (_metrics_from_file(opts.metrics_file)
               if opts.metrics_file is not None and opts.metrics_file.exists() else {})
    with store.db.write() as w:
        if env_record is not None or launch_error:
            run_store.update_record(w, run.id, lambda r: replace(
                r, env=env_record or r.env, warnings=(*r.warnings, *launch_error)))
        if boot.get("params"):
            recorded = run_store.get_params(store, [run.id])[run.id]
            parsed = redact_params(boot["params"])
            new = {k: v for k, v in parsed.items() if k not in recorded}
            if new:
                run_store.log_params(w, run.id, new)
        if metrics:
            write_series(w, run.id, metrics)
    refused = _store_outputs(project, store, objects, run.id, opts.outputs, log_path, progress)
    error = result.error
    with store.db.write() as w:
        if refused:
            sentence = not_stored_sentence(refused, project.store_dir)
            run_store.update_record(w, run.id, lambda r: replace(
                r, not_stored=tuple(refused), warnings=(*r.warnings, sentence)))
            error = f"{error}; {sentence}" if error else sentence
        run_store.finish_run(w, run.id, result.status, exit_code=result.exit_code)
    return TrackedRun(run=run_store.get_run(store, run.id), exit_code=result.exit_code,
                      error=error)


def snapshot(
    project: Project, store: MetaStore, opts: RunOptions, progress: Progress | None = None
) -> run_store.RunRow:
    """Record the current state (code, environment, inputs, outputs) without running anything."""
    from cairn.capture.params import load_params_file

    _check_paths([*opts.inputs, *opts.outputs], "path")
    params: dict[str, Any] = {}
    if opts.params_file is not None:
        _check_paths([opts.params_file], "params file")
        params.update(load_params_file(opts.params_file))
    params.update(opts.params)
    settings = load_settings(project.store_dir)
    objects = LocalObjectStore(project.objects_dir)
    record, _seed = _capture_record(
        project, objects, None, settings.capture_env, settings.source_size_limit,
        data_paths=[*opts.inputs, *opts.outputs], stat_cache=_stat_cache(store),
    )
    record = replace(record, env=_store_environment(objects, project, None, sys.executable))
    with store.db.write() as w:
        run = run_store.create_run(
            w,
            store.project_id,
            name=opts.name,
            message=opts.message,
            params=params,
            tags=opts.tags,
            record=record,
            cwd=str(Path.cwd()),
            lineage=opts.lineage,
        )
    store_paths(project, store, objects, run.id, opts.inputs, "input", progress)
    store_paths(project, store, objects, run.id, opts.outputs, "output", progress)
    metrics = _metrics_from_file(opts.metrics_file) if opts.metrics_file is not None else {}
    with store.db.write() as w:
        if metrics:
            write_series(w, run.id, metrics)
        run_store.finish_run(w, run.id, "finished", exit_code=0)
    return run_store.get_run(store, run.id)


def command_line(argv: Sequence[str]) -> str:
    return shlex.join(argv)
