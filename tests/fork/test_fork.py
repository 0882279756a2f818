"""``cairn fork`` end to end: real git, real processes, the runs and diff a user reads."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import snapshot_dir
from cairn.project import find_project
from cairn.store.core import open_store
from cairn.store.runs import get_run
from tests.conftest import cairn_cli, git
from tests.fork.conftest import (
    PYTHON,
    cairn_ok,
    commit_all,
    run_count,
    show,
    write,
)


def _weight(root: Path, ref: str) -> str:
    """The bytes of the run's declared output ``out/weight.txt``, read from the store."""
    objects = LocalObjectStore(root / ".cairn" / "objects")
    from cairn.objects.tree import read_tree

    (out,) = show(root, ref)["outputs"]
    (entry,) = read_tree(objects, out["oid"]).entries
    return objects.get_bytes(entry.oid).decode().strip()


def test_set_rewrites_the_recorded_flag_and_links_the_fork(trained: Path) -> None:
    done = cairn_cli("fork", "1", "--set", "lr=0.01", cwd=trained)

    assert done.returncode == 0, done.stderr
    assert "weight 0.180000" in done.stdout  # the script's own output streams through
    assert "run 2 forked from run 1" in done.stderr
    assert "lr 0.1 → 0.01 (command line)" in done.stderr
    assert "lr" in done.stdout and "-0.09" in done.stdout  # the diff against the original
    original, fork = show(trained, "1"), show(trained, "2")
    assert fork["params"]["lr"] == 0.01
    assert fork["params"]["n_steps"] == 3
    assert fork["lineage"]["forked_from"] == original["id"]
    assert fork["command"][-4:] == ["--lr", "0.01", "--n-steps", "3"]
    assert fork["metrics"]["weight"] != original["metrics"]["weight"]
    assert _weight(trained, "1") == "1.800000000"
    assert _weight(trained, "2") == "0.180000000"
    assert fork["inputs"] == original["inputs"]  # untouched inputs keep their objects
    assert fork["code"]["commit"] == original["code"]["commit"]
    assert fork["cwd"] == original["cwd"]
    assert not any((trained / ".cairn" / "fork").iterdir())  # the checkout is cleaned up


def test_a_key_with_underscores_sets_its_dashed_flag_or_adds_it(trained: Path) -> None:
    cairn_ok("fork", "1", "--set", "n_steps=5", "--set", "verbose=true", cwd=trained)

    fork = show(trained, "2")
    assert fork["command"][2:] == ["--lr", "0.1", "--n-steps", "5", "--verbose"]
    assert fork["params"]["n_steps"] == 5
    assert fork["params"]["verbose"] is True
    assert _weight(trained, "2") == "3.000000000"


def test_input_swap_replaces_the_data_and_records_the_new_tree(trained: Path) -> None:
    write(trained, "other/train.csv", "10,20")
    expected = snapshot_dir(LocalObjectStore(trained.parent / "scratch"), trained / "other")

    done = cairn_cli("fork", "1", "--input", "data/=other/", cwd=trained)

    assert done.returncode == 0, done.stderr
    original, fork = show(trained, "1"), show(trained, "2")
    (before,), (after,) = original["inputs"], fork["inputs"]
    assert after["path"] == before["path"] == "data"
    assert after["oid"] != before["oid"]
    assert after["oid"] == expected.oid
    assert _weight(trained, "2") == "9.000000000"
    assert "~ data" in done.stdout  # the diff names the changed input
    assert (trained / "data" / "train.csv").read_text() == "1,2,3"  # the user's files stay


def test_params_file_is_rewritten_and_the_fork_reproduces(repo: Path) -> None:
    write(repo, "config.py", """
        import pathlib, yaml
        import cairn

        conf = yaml.safe_load(open("params.yaml"))
        value = conf["model"]["lr"] * conf["steps"]
        cairn.log({"value": value})
        pathlib.Path("out").mkdir(exist_ok=True)
        pathlib.Path("out/value.txt").write_text(f"{value}\\n")
    """)
    write(repo, "params.yaml", """
        # settings for the model
        model:
          lr: 0.1   # learning rate
          depth: 3
        steps: 4
    """)
    commit_all(repo, "a config")
    cairn_ok("run", "--params", "params.yaml", "-o", "out", "--", PYTHON, "config.py", cwd=repo)

    done = cairn_cli("fork", "1", "--set", "model.lr=0.5", cwd=repo)

    assert done.returncode == 0, done.stderr
    assert "params file params.yaml" not in done.stdout
    fork = show(repo, "2")
    assert fork["params"] == {"model.lr": 0.5, "model.depth": 3, "steps": 4}
    assert fork["metrics"]["value"] == 2.0
    assert fork["code"]["dirty"] is True  # the rewritten file is part of the fork's code
    assert (repo / "params.yaml").read_text().count("lr: 0.1") == 1  # the user's file stays
    cairn_ok("checkout", "2", "--dir", str(repo.parent / "co"), cwd=repo)
    assert (repo.parent / "co" / "params.yaml").read_text() == (
        "# settings for the model\nmodel:\n  lr: 0.5   # learning rate\n  depth: 3\nsteps: 4\n")
    verdict = cairn_cli("repro", "2", "--env", "current", cwd=repo)
    assert verdict.returncode == 0, verdict.stderr
    assert "verdict: REPRODUCED" in verdict.stderr


def test_untracked_params_file_outside_git_is_rewritten_too(workdir: Path) -> None:
    write(workdir, "show.py", """
        import json, cairn
        conf = json.load(open("conf.json"))
        cairn.log({"double": conf["k"] * 2})
    """)
    write(workdir, "conf.json", '{"k": 2, "name": "a"}')
    cairn_ok("init", cwd=workdir)
    cairn_ok("run", "--params", "conf.json", "--", PYTHON, "show.py", cwd=workdir)

    cairn_ok("fork", "1", "--set", "k=21", cwd=workdir)

    fork = show(workdir, "2")
    assert fork["code"]["kind"] == "snapshot"
    assert fork["params"] == {"k": 21, "name": "a"}
    assert fork["metrics"]["double"] == 42
    verdict = cairn_cli("repro", "2", "--env", "current", cwd=workdir)
    assert "verdict: REPRODUCED" in verdict.stderr, verdict.stderr


def test_a_new_command_after_dashes_replaces_the_recorded_one(trained: Path) -> None:
    done = cairn_cli("fork", "1", "--", PYTHON, "train.py", "--lr", "1", cwd=trained)

    assert done.returncode == 0, done.stderr
    fork = show(trained, "2")
    assert fork["command"] == [PYTHON, "train.py", "--lr", "1"]
    assert fork["lineage"]["forked_from"] == show(trained, "1")["id"]
    assert _weight(trained, "2") == "18.000000000"


def test_a_failing_fork_is_recorded_and_its_folder_kept(trained: Path) -> None:
    done = cairn_cli("fork", "1", "--set", "lr=fast", cwd=trained)

    assert done.returncode == 2  # argparse's own exit code, passed on
    assert "invalid float value" in done.stderr
    fork = show(trained, "2")
    assert fork["status"] == "failed"
    assert fork["lineage"]["forked_from"] == show(trained, "1")["id"]
    kept = [p for p in (trained / ".cairn" / "fork").iterdir()]
    assert len(kept) == 1 and (kept[0] / "train.py").exists()
    assert str(kept[0]) in done.stderr


# -- mistakes: one sentence, nothing recorded, nothing left behind ------------------------------
def _refused(root: Path, *args: str) -> str:
    before = run_count(root)
    done = cairn_cli("fork", *args, cwd=root)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("cairn: error: ")
    assert run_count(root) == before
    leftovers = root / ".cairn" / "fork"
    assert not leftovers.exists() or not any(leftovers.iterdir())
    return done.stderr


def test_an_unknown_run_is_one_sentence(trained: Path) -> None:
    err = _refused(trained, "99", "--set", "lr=0.01")
    assert "no run matches '99'" in err.splitlines()[0]


def test_a_malformed_set_is_one_sentence(trained: Path) -> None:
    assert "KEY=VALUE" in _refused(trained, "1", "--set", "lr")
    assert "KEY=VALUE" in _refused(trained, "1", "--set", "=3")


def test_an_unknown_param_names_the_known_ones(trained: Path) -> None:
    err = _refused(trained, "1", "--set", "lrr=0.01")
    assert "run 1 has no param 'lrr'" in err
    assert "lr, n_steps, verbose" in err


def test_bad_input_swaps_are_refused(trained: Path) -> None:
    write(trained, "other/train.csv", "10,20")
    assert "PATH=NEWPATH" in _refused(trained, "1", "--input", "data/")
    assert "run 1 has no input 'dta'" in _refused(trained, "1", "--input", "dta=other")
    assert "does not exist" in _refused(trained, "1", "--input", "data=missing/")
    assert "swap like for like" in _refused(trained, "1", "--input", "data=other/train.csv")
    assert "not a path inside" in _refused(trained, "1", "--input", "../x=other")


def test_an_unknown_remote_is_one_sentence(trained: Path) -> None:
    err = _refused(trained, "team:1")
    assert "no remote is named 'team'" in err


# -- a colleague's run, pulled from a remote -------------------------------------------------------
def test_fork_of_a_remote_run_pulls_it_first(trained: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    cairn_ok("remote", "add", "team", str(lake), cwd=trained)
    cairn_ok("push", "1", cwd=trained)
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", str(trained), str(mine))
    write(mine, "my-data/train.csv", "5,5")
    cairn_ok("init", cwd=mine)
    cairn_ok("remote", "add", "team", str(lake), cwd=mine)

    done = cairn_cli("fork", "team:1", "--set", "lr=0.01", "--input", "data/=my-data/",
                     cwd=mine)

    assert done.returncode == 0, done.stderr
    assert "pulling team:1" in done.stderr
    pulled, fork = show(mine, "1"), show(mine, "2")
    assert pulled["id"] == show(trained, "1")["id"]
    assert fork["lineage"]["forked_from"] == pulled["id"]
    assert fork["params"]["lr"] == 0.01
    assert _weight(mine, "2") == "0.300000000"


def test_fork_record_says_what_changed(trained: Path) -> None:
    write(trained, "other/train.csv", "10,20")
    cairn_ok("fork", "1", "--set", "lr=0.2", "--input", "data=other", "-m", "my data",
             cwd=trained)

    project = find_project(trained)
    assert project is not None
    store = open_store(project)
    try:
        run = get_run(store, show(trained, "2")["id"])
    finally:
        store.close()
    assert run.message == "my data"
    note = run.record.fork
    assert note is not None and note.from_number == 1
    assert note.set == {"lr": "0.2"}
    assert note.inputs == {"data": str((trained / "other").resolve())}


def test_code_keys_a_newer_cairn_recorded_are_kept_by_the_fork(trained: Path) -> None:
    db = sqlite3.connect(trained / ".cairn" / "cairn.db")
    with db:  # as a newer cairn would have written run 1
        db.execute("""UPDATE runs SET record = json_set(record,
                      '$.code.notebook', json('{"path": "explore.ipynb", "cell": 12}'),
                      '$.sweep', json('{"id": "s-17"}'))""")
    db.close()

    cairn_ok("fork", "1", "--set", "lr=0.2", cwd=trained)

    original, fork = show(trained, "1"), show(trained, "2")
    assert fork["code"]["notebook"] == {"path": "explore.ipynb", "cell": 12}
    assert fork["code"] == original["code"]  # the original's code, whole
    db = sqlite3.connect(trained / ".cairn" / "cairn.db")
    try:
        (text,) = db.execute("SELECT record FROM runs WHERE number = 1").fetchone()
    finally:
        db.close()
    assert json.loads(text)["sweep"] == {"id": "s-17"}  # the original is left as it was
