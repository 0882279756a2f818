"""Where a run's output lives: a live file while it runs, an object once it has ended."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from cairn.project import Project
from cairn.store.artifacts import list_artifacts
from cairn.store.core import MetaStore
from cairn.store.runs import RunRow, get_run

LOG_NAME = "output.log"


def live_log_path(project: Project, run_id: str) -> Path:
    return project.runs_dir / run_id / LOG_NAME


def log_bytes(project: Project, store: MetaStore, run: RunRow) -> bytes | None:
    for art in list_artifacts(store, run.id, "log"):
        from cairn.objects.local import LocalObjectStore

        return LocalObjectStore(project.objects_dir).get_bytes(art.oid)
    live = live_log_path(project, run.id)
    return live.read_bytes() if live.exists() else None


def follow_log(project: Project, store: MetaStore, run: RunRow,
               poll_s: float = 0.25) -> Iterator[bytes]:
    """Yield the output as it grows, until the run has ended and the file is drained."""
    live = live_log_path(project, run.id)
    if run.status != "running" or not live.exists():
        data = log_bytes(project, store, run)
        if data:
            yield data
        return
    with open(live, "rb") as fh:
        while True:
            chunk = fh.read(65536)
            if chunk:
                yield chunk
                continue
            if get_run(store, run.id).status != "running":
                rest = fh.read()
                if rest:
                    yield rest
                return
            time.sleep(poll_s)
