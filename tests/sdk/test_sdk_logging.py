"""The SDK in real processes: what a training script does, and what it leaves in the store."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cairn.project import Project
from cairn.store.core import MetaStore, open_store
from cairn.store.metrics import latest_metrics, read_series
from cairn.store.runs import get_params, get_run, get_tags, list_runs, reap_crashed
from tests.conftest import run_python


def open_project_store(project: Project) -> MetaStore:
    return open_store(project)


def only_run(store: MetaStore):  # type: ignore[no-untyped-def]
    rows = list_runs(store, limit=None)
    assert len(rows) == 1, rows
    return rows[0]


def test_context_manager_records_params_metrics_and_status(project: Project) -> None:
    done = run_python(textwrap.dedent("""
        import cairn
        with cairn.init(name="baseline", params={"lr": 0.1}, tags={"team": "vision"}) as run:
            for step in range(1000):
                cairn.log({"loss": 1.0 / (step + 1), "acc": step / 1000}, step=step)
            cairn.log_params({"depth": 5})
        print(run.number)
    """), cwd=project.root)
    assert done.returncode == 0, done.stderr
    store = open_project_store(project)
    run = only_run(store)
    assert (run.name, run.status, run.number) == ("baseline", "finished", 1)
    assert get_params(store, [run.id])[run.id] == {"lr": 0.1, "depth": 5}
    assert get_tags(store, [run.id])[run.id] == {"team": "vision"}
    loss = read_series(store, run.id, "loss")
    assert list(loss.steps) == list(range(1000))
    assert loss.values[999] == pytest.approx(1 / 1000)
    assert latest_metrics(store, [run.id])[run.id]["acc"] == pytest.approx(0.999)


def test_log_without_init_starts_a_run_and_finishes_at_exit(project: Project) -> None:
    done = run_python("import cairn\nfor i in range(3): cairn.log({'x': i})\n",
                      cwd=project.root)
    assert done.returncode == 0, done.stderr
    store = open_project_store(project)
    run = only_run(store)
    assert run.status == "finished"
    assert list(read_series(store, run.id, "x").steps) == [0, 1, 2]  # steps count up


def test_numpy_scalars_bools_nan_and_inf(project: Project) -> None:
    done = run_python(textwrap.dedent("""
        import cairn, numpy as np
        cairn.init()
        cairn.log({"np": np.float32(0.5), "arr": np.array(2.0), "flag": True,
                   "i": np.int64(7), "nan": float("nan"), "inf": float("-inf")}, step=np.int64(3))
        cairn.finish()
    """), cwd=project.root)
    assert done.returncode == 0, done.stderr
    store = open_project_store(project)
    run = only_run(store)
    latest = latest_metrics(store, [run.id])[run.id]
    assert latest["np"] == 0.5 and latest["arr"] == 2.0 and latest["flag"] == 1.0
    assert latest["i"] == 7.0 and math.isnan(latest["nan"]) and latest["inf"] == -math.inf
    assert list(read_series(store, run.id, "np").steps) == [3]


def test_non_numeric_value_raises_type_error_at_the_call(project: Project) -> None:
    done = run_python(textwrap.dedent("""
        import cairn
        cairn.init()
        try:
            cairn.log({"acc": "high"})
        except TypeError as exc:
            print("TypeError:", exc)
        cairn.log({"acc": 0.5})
    """), cwd=project.root)
    assert done.returncode == 0, done.stderr
    assert "TypeError: metric 'acc' must be a number" in done.stdout
    store = open_project_store(project)
    assert latest_metrics(store, [only_run(store).id]) != {}


def test_uncaught_exception_marks_the_run_failed(project: Project) -> None:
    done = run_python("import cairn\ncairn.init()\ncairn.log({'x': 1})\nraise SystemError('boom')",
                      cwd=project.root)
    assert done.returncode == 1 and "boom" in done.stderr
    store = open_project_store(project)
    run = only_run(store)
    assert run.status == "failed"
    assert latest_metrics(store, [run.id])[run.id] == {"x": 1.0}


def test_init_in_a_loop_gives_one_run_each(project: Project) -> None:
    done = run_python(textwrap.dedent("""
        import cairn
        for i in range(5):
            with cairn.init(params={"i": i}):
                cairn.log({"m": i})
    """), cwd=project.root)
    assert done.returncode == 0, done.stderr
    store = open_project_store(project)
    rows = list_runs(store, limit=None)
    assert [r.number for r in rows] == [5, 4, 3, 2, 1]
    assert all(r.status == "finished" for r in rows)


def test_joins_the_run_named_by_cairn_run_id(project: Project) -> None:
    from cairn.store.runs import create_run

    store = open_project_store(project)
    with store.db.write() as tx:
        outer = create_run(tx, store.project_id, name="outer")
    done = run_python("import cairn\nr = cairn.init(params={'lr': 1})\ncairn.log({'a': 2})\n"
                      "print(r.number)", cwd=project.root,
                      env={"CAIRN_RUN_ID": outer.id, "CAIRN_DIR": str(project.store_dir)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert get_params(store, [outer.id])[outer.id] == {"lr": 1}
    assert latest_metrics(store, [outer.id])[outer.id] == {"a": 2.0}
    assert get_run(store, outer.id).status == "running"  # the launcher owns the status


def test_eight_processes_logging_at_once_lose_nothing(project: Project) -> None:
    script = textwrap.dedent("""
        import cairn, sys
        with cairn.init(name=f"w{sys.argv[1]}"):
            for i in range(10_000):
                cairn.log({"v": float(i)}, step=i)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(k)], cwd=project.root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for k in range(8)]
    outputs = [p.communicate(timeout=180) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()
        assert b"warning" not in err, err.decode()
    store = open_project_store(project)
    rows = list_runs(store, limit=None)
    assert len(rows) == 8 and {r.status for r in rows} == {"finished"}
    assert sorted(r.number for r in rows) == list(range(1, 9))
    total = sum(len(read_series(store, r.id, "v")) for r in rows)
    assert total == 80_000


def test_sigkill_keeps_flushed_points_and_reads_crashed(project: Project) -> None:
    marker = project.root / "flushed"
    script = textwrap.dedent(f"""
        import cairn, time, pathlib
        run = cairn.init(name="doomed")
        for i in range(5000):
            cairn.log({{"v": i}}, step=i)
        time.sleep(1.5)  # longer than the flush interval: these points reach the store
        pathlib.Path({str(marker)!r}).write_text("yes")
        while True:
            cairn.log({{"v": 0}})
            time.sleep(0.001)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=project.root)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    store = open_project_store(project)
    run = only_run(store)
    assert run.status == "running"  # nothing has looked yet
    reap_crashed(store)
    run = get_run(store, run.id)
    assert run.status == "crashed"
    values = read_series(store, run.id, "v")
    assert list(values.steps[:5000]) == list(range(5000))


def test_unreachable_store_warns_once_and_the_program_goes_on(workdir: Path) -> None:
    done = run_python(textwrap.dedent("""
        import cairn
        cairn.init(name="offline")
        for i in range(100):
            cairn.log({"x": i})
        cairn.finish()
        print("the script finished")
    """), cwd=workdir, env={"CAIRN_DB": "postgresql://nobody@127.0.0.1:1/none"})
    assert done.returncode == 0, done.stderr
    assert "the script finished" in done.stdout
    assert done.stderr.count("cairn: warning") == 1
    assert "cannot reach the cairn store" in done.stderr


def test_log_artifact_is_content_addressed(project: Project) -> None:
    (project.root / "plots").mkdir()
    (project.root / "plots" / "roc.png").write_bytes(b"\x89PNG fake")
    done = run_python(textwrap.dedent("""
        import cairn
        with cairn.init():
            a = cairn.log_artifact("plots/roc.png")
            b = cairn.log_artifact("plots", name="all-plots")
        print(a)
    """), cwd=project.root)
    assert done.returncode == 0, done.stderr
    from cairn.objects.hashing import hash_bytes
    from cairn.store.artifacts import list_artifacts

    assert done.stdout.strip() == hash_bytes(b"\x89PNG fake")
    store = open_project_store(project)
    arts = {a.path: a for a in list_artifacts(store, only_run(store).id)}
    assert set(arts) == {"roc.png", "all-plots"}
    assert arts["all-plots"].is_tree and not arts["roc.png"].is_tree


def test_import_cairn_pulls_in_nothing_heavy(workdir: Path) -> None:
    done = run_python("import sys, cairn\n"
                      "print(sorted(m for m in ('sqlalchemy', 'alembic', 'rich', 'click', "
                      "'sqlite3', 'psycopg', 'blake3', 'numpy') if m in sys.modules))",
                      cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_mixed_key_sets_in_one_flush_keep_every_point(project: Project) -> None:
    done = run_python(textwrap.dedent("""
        import cairn
        with cairn.init():
            cairn.log({"a": 1.0}, step=0)
            cairn.log({"b": 2.0}, step=1)
            cairn.log({"a": 3.0, "b": 4.0}, step=2)
    """), cwd=project.root)
    assert done.returncode == 0, done.stderr
    store = open_project_store(project)
    run = only_run(store)
    a, b = read_series(store, run.id, "a"), read_series(store, run.id, "b")
    assert (list(a.steps), list(a.values)) == ([0, 2], [1.0, 3.0])
    assert (list(b.steps), list(b.values)) == ([1, 2], [2.0, 4.0])
