"""The module-level SDK: ``cairn.init``, ``cairn.log`` and friends.

Importing this must stay cheap and must never fail a user's program: everything that touches
the store is imported inside the functions. When the store cannot be reached the SDK warns once
and carries on with a run that keeps its points locally.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cairn.sdk.run import Run
from cairn.sdk.writer import warn

if TYPE_CHECKING:
    from cairn.project import Project
    from cairn.store.core import MetaStore

_lock = threading.RLock()
_active: Run | None = None
_joined_id: str | None = None  # the `cairn run` run this process has already joined
_store: MetaStore | None = None
_project: Project | None = None
_exit_status = "finished"
_hooks_installed = False


def _open() -> tuple[MetaStore, Project]:
    global _store, _project
    if _store is None or _project is None:
        from cairn.project import require_project
        from cairn.store.core import open_store

        project = require_project()
        _store, _project = open_store(project), project
    return _store, _project


def init(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    *,
    message: str | None = None,
) -> Run:
    """Start a run, or join the one ``cairn run`` started for this process.

    A run still open in this process is finished first, so ``init`` in a loop gives one run
    per iteration.
    """
    global _active, _joined_id
    from cairn.sdk.run import check_values

    check_values({"name": name or "", "message": message or ""}, "run's name or message")
    check_values(params, "params")
    check_values({str(k): str(v) for k, v in (tags or {}).items()}, "tags")
    with _lock:
        _install_hooks()
        if _active is not None and not _active.finished:
            _active.finish()
        _active = None
        from cairn.settings import Internal

        env_run = os.environ.get(Internal.RUN_ID)  # set by `cairn run` for the script
        try:
            store, project = _open()
            if env_run and _joined_id is None:
                run = _join(store, project, env_run, name, params, tags)
                _joined_id = env_run
            else:
                run = _create(store, project, name, params, tags, message,
                              parent=_joined_id or env_run)
        except Exception as exc:
            from cairn.errors import CairnError

            detail = exc.message if isinstance(exc, CairnError) else repr(exc)
            warn(f"cannot reach the cairn store ({detail}); this run is kept in memory only")
            from cairn._util.ids import uuid7_hex

            run = Run(run_id=uuid7_hex(), number=0, name=name, store=None, project=None,
                      joined=False)
        _active = run
        return run


def _join(store: MetaStore, project: Project, run_id: str, name: str | None,
          params: Mapping[str, Any] | None, tags: Mapping[str, Any] | None) -> Run:
    from cairn.store import runs

    row = runs.get_run(store, run_id)
    if name or params or tags:
        with store.db.write() as w:
            if name:
                runs.set_run_fields(w, run_id, name=name)
            if params:
                runs.log_params(w, run_id, dict(params))
            if tags:
                runs.set_tags(w, run_id, dict(tags))
    return Run(run_id=run_id, number=row.number, name=name or row.name, store=store,
               project=project, joined=True)


def _create(store: MetaStore, project: Project, name: str | None,
            params: Mapping[str, Any] | None, tags: Mapping[str, Any] | None,
            message: str | None, parent: str | None) -> Run:
    from cairn.capture.secrets import redact_argv
    from cairn.store import runs
    from cairn.store.record import RunRecord

    with store.db.write() as w:
        row = runs.create_run(
            w, store.project_id, name=name, message=message, params=params, tags=tags,
            cwd=os.getcwd(),
            record=RunRecord(source="sdk", argv=tuple(redact_argv(sys.argv)[0])),  # no secret
            lineage={"parent": parent} if parent else None,
        )
    return Run(run_id=row.id, number=row.number, name=name, store=store, project=project,
               joined=False)


def active_run() -> Run | None:
    return _active if _active is not None and not _active.finished else None


def _current() -> Run:
    run = _active
    if run is None or run.finished:
        run = init()
    return run


def log(values: Mapping[str, Any], step: int | None = None) -> None:
    """Record metrics; starts (or joins) a run on first use."""
    run = _active
    if run is None or run._finished:
        run = _current()
    run.log(values, step)


def log_params(params: Mapping[str, Any]) -> None:
    _current().log_params(params)


def set_tags(tags: Mapping[str, Any]) -> None:
    _current().set_tags(tags)


def log_artifact(path: str | os.PathLike[str], name: str | None = None) -> str:
    return _current().log_artifact(Path(path), name)


def finish(status: str = "finished") -> None:
    global _active
    with _lock:
        if _active is not None:
            _active.finish(status)
            _active = None


def _forget(run: Run) -> None:
    global _active
    with _lock:
        if _active is run:
            _active = None


# -- process exit -----------------------------------------------------------------------------
def _install_hooks() -> None:
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        global _exit_status
        _exit_status = "killed" if issubclass(kind, KeyboardInterrupt) else "failed"
        previous(kind, exc, tb)

    sys.excepthook = excepthook
    atexit.register(_at_exit)


def _at_exit() -> None:
    try:
        finish(_exit_status)
    except Exception as exc:  # never turn a clean exit into a traceback
        warn(f"could not finish the run at exit ({exc})")
