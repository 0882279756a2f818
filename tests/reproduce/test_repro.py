"""``cairn repro`` end to end: real git, real processes, the verdict a user reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import cairn_cli, git
from tests.reproduce.conftest import (
    PYTHON,
    cairn_ok,
    commit_all,
    record_run,
    repro_json,
    show,
    write,
)

DETERMINISTIC = """
    import argparse, pathlib
    import cairn

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = [float(x) for x in pathlib.Path("data/train.csv").read_text().split(",")]
    loss = 1.0
    for step in range(5):
        loss = loss * (1 - args.lr) + sum(rows) / 1000
        cairn.log({"loss": loss, "acc": 1 - loss / 3}, step=step)
    cairn.log({"epochs": 5})
    pathlib.Path("model").mkdir(exist_ok=True)
    pathlib.Path("model/weights.txt").write_text(f"{loss:.12f}\\n")
    print(f"final loss {loss:.6f}")
"""


def test_a_deterministic_script_reproduces(repo: Path) -> None:
    write(repo, "train.py", DETERMINISTIC)
    write(repo, "data/train.csv", "1,2,3,4")
    commit_all(repo)
    record_run(repo, "-i", "data", "-o", "model", "--", PYTHON, "train.py", "--lr", "0.2")

    done = cairn_cli("repro", "1", "--env", "current", cwd=repo)

    assert done.returncode == 0, done.stderr
    assert "verdict: REPRODUCED" in done.stderr
    assert "final loss" in done.stdout  # the command's own output streams through
    assert "run 2 reproduces run 1" in done.stderr
    record = show(repo, "2")
    assert record["verdict"] == "REPRODUCED"
    assert record["lineage"]["reproduces"] == show(repo, "1")["id"]
    assert record["reproduction"]["verdict"] == "REPRODUCED"
    assert record["params"] == show(repo, "1")["params"]
    assert [i["path"] for i in record["inputs"]] == ["data"]
    assert record["code"]["commit"] == show(repo, "1")["code"]["commit"]
    listing = cairn_ok("ls", cwd=repo).stdout
    assert "reproduced" in listing
    # A reproduction that verified leaves no checkout behind.
    assert not any((repo / ".cairn" / "repro").iterdir())


def test_the_json_verdict_has_every_documented_field(repo: Path) -> None:
    write(repo, "train.py", DETERMINISTIC)
    write(repo, "data/train.csv", "1,2,3,4")
    commit_all(repo)
    record_run(repo, "-i", "data", "-o", "model", "--", PYTHON, "train.py")

    code, verdict, _ = repro_json(repo, "1", "--env", "current")

    assert code == 0
    assert verdict["verdict"] == "REPRODUCED"
    assert verdict["original"]["number"] == 1
    assert verdict["reproduction"]["number"] == 2
    assert verdict["environment"]["mode"] == "current"
    assert verdict["environment"]["python"]["used"] == verdict["environment"]["python"][
        "recorded"]
    assert verdict["environment"]["package_mismatches"] == []
    assert verdict["params_identical"] is True
    keys = {m["key"] for m in verdict["metrics"]}
    assert keys == {"acc", "epochs", "loss"}  # system metrics are not results
    for m in verdict["metrics"]:
        assert set(m) >= {"key", "original", "reproduced", "abs_diff", "rel_diff", "ok"}
        assert m["ok"] and m["abs_diff"] == 0
    loss = next(m for m in verdict["metrics"] if m["key"] == "loss")
    assert loss["series"]["points_original"] == 5 and loss["series"]["ok"]
    assert verdict["outputs"] == [{
        "path": "model", "original_oid": verdict["outputs"][0]["original_oid"],
        "reproduced_oid": verdict["outputs"][0]["original_oid"], "identical": True,
    }]
    assert verdict["stdout"] is None  # metrics were logged, so they are the evidence


def test_an_unseeded_random_number_diverges(repo: Path) -> None:
    write(repo, "noisy.py", """
        import random
        import cairn
        cairn.log({"acc": 0.9 + random.random() / 100, "epochs": 3})
    """)
    commit_all(repo)
    record_run(repo, "--", PYTHON, "noisy.py")

    code, verdict, err = repro_json(repo, "1", "--env", "current")

    assert code == 1
    assert verdict["verdict"] == "DIVERGED"
    acc = next(m for m in verdict["metrics"] if m["key"] == "acc")
    epochs = next(m for m in verdict["metrics"] if m["key"] == "epochs")
    assert not acc["ok"] and acc["abs_diff"] > 0
    assert epochs["ok"]
    assert any("no seed" in h for h in verdict["hints"])
    assert "DIVERGED" in err and "acc" in err and "no seed" in err
    assert show(repo, "2")["verdict"] == "DIVERGED"
    assert "diverged" in cairn_ok("ls", cwd=repo).stdout
    # The rebuilt folder is kept for a look at what differs.
    assert Path(verdict["reproduction"]["dir"], "noisy.py").exists()


def test_uncommitted_changes_and_an_untracked_helper_are_replayed(repo: Path) -> None:
    write(repo, "train.py", """
        import cairn
        from helper import scale
        cairn.log({"score": scale(2.0)})
    """)
    commit_all(repo)
    write(repo, "train.py", """
        import cairn
        from helper import scale
        cairn.log({"score": scale(2.0) + 0.5})  # uncommitted tweak
    """)
    write(repo, "helper.py", "def scale(x):\n    return x * 21\n")
    record_run(repo, "--", PYTHON, "train.py")
    assert show(repo, "1")["metrics"]["score"] == 42.5
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "reset", "-q", "--hard")
    (repo / "helper.py").unlink()

    done = cairn_cli("repro", "1", "--env", "current", "--json", cwd=repo)

    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["verdict"] == "REPRODUCED"
    assert verdict["metrics"][0]["reproduced"] == 42.5
    # The user's working tree, index and branch are as they left them.
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain") == ""
    assert git(repo, "branch", "--show-current").strip() == "main"
    assert not (repo / "helper.py").exists()


def test_a_script_that_only_prints_is_compared_by_its_output(repo: Path) -> None:
    write(repo, "report.py", """
        import sys, time
        start = time.time()
        print("rows 1000")
        print(f"mean 0.25 computed at {time.strftime('%H:%M:%S')}")
        print(f"took {time.time() - start + float(sys.argv[1]):.3f}s")
    """)
    commit_all(repo)
    record_run(repo, "--", PYTHON, "report.py", "1.5")

    code, verdict, _ = repro_json(repo, "1", "--env", "current")

    assert code == 0, verdict
    assert verdict["stdout"]["identical"] is True
    assert verdict["stdout"]["lines_original"] == 3


def test_changed_printed_results_diverge_showing_the_first_lines(repo: Path, tmp_path: Path
                                                                 ) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    write(repo, "count.py", f"""
        import pathlib
        p = pathlib.Path({str(counter)!r})
        n = int(p.read_text())
        p.write_text(str(n + 1))
        print("header")
        print(f"value {{n}}")
    """)
    commit_all(repo)
    record_run(repo, "--", PYTHON, "count.py")

    code, verdict, err = repro_json(repo, "1", "--env", "current")

    assert code == 1
    assert verdict["verdict"] == "DIVERGED"
    assert verdict["stdout"]["first_differences"] == [
        {"line": 2, "original": "value 0", "reproduced": "value 1"}
    ]
    assert "value 0" in err and "value 1" in err


def test_an_output_file_that_differs_is_named(repo: Path, tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    write(repo, "make.py", f"""
        import pathlib
        import cairn
        p = pathlib.Path({str(counter)!r})
        n = int(p.read_text())
        p.write_text(str(n + 1))
        out = pathlib.Path("out")
        out.mkdir(exist_ok=True)
        (out / "fixed.txt").write_text("same\\n")
        (out / "stamp.txt").write_text(f"{{n}}\\n")
        cairn.log({{"acc": 0.5}})
    """)
    commit_all(repo)
    record_run(repo, "-o", "out", "--", PYTHON, "make.py")

    code, verdict, err = repro_json(repo, "1", "--env", "current")

    assert code == 1
    assert verdict["verdict"] == "DIVERGED"
    assert all(m["ok"] for m in verdict["metrics"])
    assert [(o["path"], o["identical"]) for o in verdict["outputs"]] == [
        ("out/stamp.txt", False)
    ]
    assert "out/stamp.txt differs" in err


def _drifting(repo: Path, counter: Path, expression: str) -> None:
    counter.write_text("0")
    write(repo, "drift.py", f"""
        import pathlib
        import cairn
        p = pathlib.Path({str(counter)!r})
        n = int(p.read_text())
        p.write_text(str(n + 1))
        cairn.log({{"value": {expression}}})
    """)
    commit_all(repo)
    record_run(repo, "--", PYTHON, "drift.py")


def test_floats_within_tolerance_reproduce_and_a_tighter_tolerance_diverges(
    repo: Path, tmp_path: Path
) -> None:
    _drifting(repo, tmp_path / "counter", "0.5 + n * 1e-9")

    code, verdict, _ = repro_json(repo, "1", "--env", "current")
    assert code == 0 and verdict["verdict"] == "REPRODUCED"
    assert verdict["metrics"][0]["abs_diff"] > 0

    code, verdict, _ = repro_json(repo, "1", "--env", "current", "--rtol", "0", "--atol", "0")
    assert code == 1 and verdict["verdict"] == "DIVERGED"
    assert verdict["tolerance"] == {"rtol": 0.0, "atol": 0.0}


def test_whole_numbers_must_match_exactly(repo: Path, tmp_path: Path) -> None:
    _drifting(repo, tmp_path / "counter", "1_000_000 + n")

    code, verdict, _ = repro_json(repo, "1", "--env", "current")

    assert code == 1, "1000001 is within rtol 1e-6 of 1000000, but counts are exact"
    assert verdict["metrics"][0]["abs_diff"] == 1


def test_a_command_that_fails_gives_failed_and_its_log_tail(repo: Path, tmp_path: Path
                                                            ) -> None:
    marker = tmp_path / "marker"
    marker.write_text("here")
    write(repo, "needs.py", f"""
        import pathlib, sys
        if not pathlib.Path({str(marker)!r}).exists():
            print("the marker is gone", file=sys.stderr)
            sys.exit(3)
        print("ok")
    """)
    commit_all(repo)
    record_run(repo, "--", PYTHON, "needs.py")
    marker.unlink()

    code, verdict, err = repro_json(repo, "1", "--env", "current")

    assert code == 1
    assert verdict["verdict"] == "FAILED"
    assert verdict["reproduction"]["exit_code"] == 3
    assert "the marker is gone" in verdict["log_tail"]
    assert "FAILED" in err and "the marker is gone" in err
    assert show(repo, "2")["verdict"] == "FAILED"


def test_params_and_metrics_files_are_read_again(repo: Path) -> None:
    write(repo, "config.yaml", "model:\n  depth: 4\n  lr: 0.05\n")
    write(repo, "fit.py", """
        import json, yaml
        cfg = yaml.safe_load(open("config.yaml"))
        json.dump({"acc": cfg["model"]["depth"] / 5}, open("metrics.json", "w"))
    """)
    commit_all(repo)
    record_run(repo, "--params", "config.yaml", "--metrics", "metrics.json", "--",
               PYTHON, "fit.py")

    code, verdict, _ = repro_json(repo, "1", "--env", "current")

    assert code == 0, verdict
    assert [m["key"] for m in verdict["metrics"]] == ["acc"]
    assert show(repo, "2")["params"] == {"model.depth": 4, "model.lr": 0.05}


def test_recorded_environment_variables_are_replayed(repo: Path) -> None:
    write(repo, "order.py", """
        import os
        import cairn
        words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"}
        cairn.log({"first": float(ord(next(iter(words))[0])),
                   "threads": float(os.environ.get("OMP_NUM_THREADS", "0"))})
    """)
    commit_all(repo)
    done = cairn_cli("run", "--", PYTHON, "order.py", cwd=repo, env={"OMP_NUM_THREADS": "3"})
    assert done.returncode == 0, done.stderr

    code, verdict, _ = repro_json(repo, "1", "--env", "current")

    assert code == 0, verdict  # same PYTHONHASHSEED, so the same set order
    assert show(repo, "2")["env_vars"]["OMP_NUM_THREADS"] == "3"
    assert show(repo, "2")["env_vars"]["PYTHONHASHSEED"] == show(repo, "1")["env_vars"][
        "PYTHONHASHSEED"]


def test_the_command_runs_in_its_recorded_subfolder(repo: Path) -> None:
    write(repo, "src/local.txt", "four")
    write(repo, "src/job.py", """
        import os
        import cairn
        cairn.log({"size": float(len(open("local.txt").read()))})
        print(os.path.basename(os.getcwd()))
    """)
    commit_all(repo)
    done = cairn_cli("run", "--", PYTHON, "job.py", cwd=repo / "src")
    assert done.returncode == 0, done.stderr

    done = cairn_cli("repro", "1", "--env", "current", cwd=repo)

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "src"


def test_a_kept_folder_is_given_with_dir(repo: Path, tmp_path: Path) -> None:
    write(repo, "train.py", DETERMINISTIC)
    write(repo, "data/train.csv", "1,2")
    commit_all(repo)
    record_run(repo, "-i", "data", "--", PYTHON, "train.py")
    target = tmp_path / "rebuilt"

    code, verdict, _ = repro_json(repo, "1", "--env", "current", "--dir", str(target))

    assert code == 0
    assert verdict["reproduction"]["dir"] == str(target)
    assert (target / "train.py").exists() and (target / "data" / "train.csv").exists()
    assert (target / "model" / "weights.txt").exists()  # written by the rebuilt run


# -- refusals -----------------------------------------------------------------------------------
def _runs(repo: Path) -> int:
    return len(json.loads(cairn_ok("ls", "--json", cwd=repo).stdout))


def test_a_snapshot_has_nothing_to_re_run(repo: Path) -> None:
    cairn_ok("snapshot", "-m", "state", cwd=repo)

    done = cairn_cli("repro", "1", cwd=repo)

    assert done.returncode == 2
    assert "snapshot" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.startswith("cairn: error:")
    assert _runs(repo) == 1


def test_an_unknown_run_is_one_sentence(repo: Path) -> None:
    done = cairn_cli("repro", "41", cwd=repo)

    assert done.returncode == 2
    assert "no run matches '41'" in done.stderr and "Traceback" not in done.stderr


def test_a_negative_tolerance_is_refused_before_anything_runs(repo: Path) -> None:
    write(repo, "a.py", "print(1)\n")
    commit_all(repo)
    record_run(repo, "--", PYTHON, "a.py")

    done = cairn_cli("repro", "1", "--rtol", "-1", cwd=repo)

    assert done.returncode == 2
    assert "--rtol" in done.stderr and "Traceback" not in done.stderr
    assert _runs(repo) == 1


def test_a_non_empty_dir_is_refused_and_nothing_is_recorded(repo: Path, tmp_path: Path
                                                            ) -> None:
    write(repo, "a.py", "print(1)\n")
    commit_all(repo)
    record_run(repo, "--", PYTHON, "a.py")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")

    done = cairn_cli("repro", "1", "--env", "current", "--dir", str(busy), cwd=repo)

    assert done.returncode == 1
    assert "is not empty" in done.stderr and "Traceback" not in done.stderr
    assert (busy / "mine.txt").read_text() == "keep me"
    assert _runs(repo) == 1


def test_docker_without_an_engine_says_so_and_keeps_the_dockerfile(
    repo: Path, tmp_path: Path
) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    docker = fake_bin / "docker"
    # The seam: no engine can run here, so a docker client that cannot reach one stands in.
    docker.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    docker.chmod(0o755)
    write(repo, "a.py", "import cairn\ncairn.log({'x': 1})\n")
    commit_all(repo)
    record_run(repo, "--", PYTHON, "a.py")
    target = tmp_path / "ctx"

    done = cairn_cli("repro", "1", "--env", "docker", "--dir", str(target), cwd=repo,
                     env={"PATH": f"{fake_bin}{os.pathsep}{os.environ['PATH']}"})

    assert done.returncode == 2
    assert "no Docker engine is reachable" in done.stderr
    assert "Traceback" not in done.stderr
    dockerfile = (target / "Dockerfile").read_text()
    assert dockerfile.count("FROM python:3.") == 1
    assert _runs(repo) == 1


def test_a_command_that_is_not_python_reproduces_by_its_output(repo: Path) -> None:
    write(repo, "job.sh", "echo total 42\necho took 0.5s\n")
    commit_all(repo)
    record_run(repo, "--", "sh", "job.sh")

    code, verdict, err = repro_json(repo, "1")

    assert code == 0, err
    assert verdict["environment"]["mode"] == "current"  # no Python packages to rebuild
    assert verdict["stdout"]["identical"] is True
