"""A project with a handful of realistic runs, for the page, browser and report tests.

Runs 1 and 2 are real snapshots of a real git repository with uncommitted changes (so code,
environment, host and data are captured by cairn itself); metrics, logs and lineage are then
added through the store, as the SDK and ``cairn run`` would.
"""

from __future__ import annotations

import json
import math
import os
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from cairn.objects.local import LocalObjectStore
from cairn.project import Project, init_project
from cairn.store import runs as run_store
from cairn.store.artifacts import ArtifactRow, add_artifacts
from cairn.store.core import MetaStore, open_store
from cairn.store.metrics import write_series
from cairn.store.series import Series
from tests.conftest import git

LOG = (
    "\x1b[1mEpoch 1/3\x1b[0m\r\n"
    "progress 10%\rprogress 50%\rprogress 100%\r\n"
    "\x1b[32mval_acc 0.91\x1b[0m\r\n"
    "saved model to out/model.pkl\r\n"
)


@dataclass
class Seeded:
    project: Project
    store: MetaStore
    objects: LocalObjectStore
    numbers: dict[str, int]  # run name -> number


def series(n: int, f: Callable[[int], float], *, start_ms: int | None = None,
           every_ms: int = 1000) -> Series:
    """``n`` points of ``f(step)``, one every ``every_ms``, ending about now."""
    t0 = start_ms if start_ms is not None else int(time.time() * 1000) - n * every_ms
    return Series(array("q", range(n)), array("d", (float(f(i)) for i in range(n))),
                  array("q", (t0 + i * every_ms for i in range(n))))


def training_curves(store: MetaStore, run_id: str, n: int, scale: float) -> None:
    with store.db.write() as tx:
        write_series(tx, run_id, {
            "loss": series(n, lambda i: scale * math.exp(-i / 60) + 0.05 * math.sin(i / 3)),
            "acc": series(n, lambda i: 0.5 + 0.45 * (1 - math.exp(-i / (50 * scale)))),
            "sys/cpu_percent": series(40, lambda i: 90 + 10 * math.sin(i)),
            "sys/rss_mb": series(40, lambda i: 300 + i),
        })


def _snapshot(project: Project, store: MetaStore, name: str, params: dict[str, object],
              tags: dict[str, str]) -> run_store.RunRow:
    from cairn.runner.track import RunOptions, snapshot

    root = project.root
    opts = RunOptions(name=name, params=params, tags=tags, inputs=[root / "data"],
                      outputs=[root / "out" / "model.pkl"], message=f"{name} experiment")
    return snapshot(project, store, opts)


def seed_project(folder: Path) -> Seeded:
    """Five runs: two snapshots, a fork on another machine, a reproduction, a running run."""
    folder.mkdir(parents=True, exist_ok=True)
    git(folder, "init", "-q", "-b", "main")
    (folder / "train.py").write_text("lr = 0.1\nprint('training')\n")
    (folder / "data").mkdir()
    (folder / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (folder / "data" / "test.csv").write_text("x,y\n5,6\n")
    (folder / "out").mkdir()
    (folder / "out" / "model.pkl").write_bytes(b"\x80\x04model-bytes")
    (folder / ".gitignore").write_text("out/\ndata/\n")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "first")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        for var in ("CAIRN_DIR", "CAIRN_DB", "CAIRN_RUN_ID", "CAIRN_PROJECT"):
            mp.delenv(var, raising=False)
        project, _ = init_project(folder)
        store = open_store(project)
        objects = LocalObjectStore(project.objects_dir)

        (folder / "train.py").write_text("lr = 0.1\nepochs = 3\nprint('training')\n")
        base = _snapshot(project, store, "baseline", {"lr": 0.1, "model": "rf", "depth": 5},
                         {"team": "vision"})
        (folder / "train.py").write_text("lr = 0.01\nepochs = 3\nprint('training')\n")
        (folder / "out" / "model.pkl").write_bytes(b"\x80\x04better-model")
        tuned = _snapshot(project, store, "tuned", {"lr": 0.01, "model": "rf", "depth": 8},
                          {"team": "vision"})

    training_curves(store, base.id, 300, 1.0)
    training_curves(store, tuned.id, 300, 0.6)
    log_oid = objects.put_bytes(LOG.encode())
    with store.db.write() as tx:
        add_artifacts(tx, [ArtifactRow(base.id, "log", "output.log", log_oid, len(LOG), False)])

    # A fork made on another machine: same code, a different package set.
    packages = {"numpy": "2.0.0", "scikit-learn": "1.5.0", "torch": "2.4.0"}
    oid = objects.put_bytes(json.dumps(
        {"packages": packages, "direct_urls": {}}, sort_keys=True).encode())
    assert tuned.record.env is not None
    record = replace(tuned.record, env=replace(tuned.record.env, packages={}, packages_oid=oid))
    with store.db.write() as tx:
        fork = run_store.create_run(tx, store.project_id, name="logreg", status="running",
                                    params={"lr": 0.5, "model": "logreg", "depth": 8},
                                    record=record, lineage={"forked_from": base.id},
                                    command=["python", "train.py", "--lr", "0.5"])
    with store.db.write() as tx:
        write_series(tx, fork.id, {
            "loss": series(120, lambda i: 2.0 * math.exp(-i / 90)),
            "acc": series(120, lambda i: 0.4 + 0.3 * (1 - math.exp(-i / 40))),
        })
    with store.db.write() as tx:
        run_store.finish_run(tx, fork.id, "failed", exit_code=1)

    with store.db.write() as tx:
        repro = run_store.create_run(
            tx, store.project_id, name="baseline-repro", status="running",
            params={"lr": 0.1, "model": "rf", "depth": 5}, record=base.record,
            lineage={"reproduces": base.id})
    training_curves(store, repro.id, 300, 1.0)
    with store.db.write() as tx:
        run_store.finish_run(tx, repro.id, "finished", exit_code=0)
    with store.db.write() as tx:
        run_store.set_run_fields(tx, repro.id, verdict="REPRODUCED")

    with store.db.write() as tx:
        live = run_store.create_run(
            tx, store.project_id, name="live", status="running", pid=os.getpid(),
            params={"lr": 0.05, "model": "rf", "depth": 6}, lineage={"parent": base.id},
        )
    with store.db.write() as tx:
        write_series(tx, live.id, {"loss": series(50, lambda i: 1.0 / (1 + i))})
    numbers = {r.name or "": r.number for r in (base, tuned, fork, repro, live)}
    return Seeded(project, store, objects, numbers)
