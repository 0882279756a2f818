"""`cairn run` and `cairn snapshot` end to end: real git repositories, real child processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import cairn_cli, git

TRAIN = textwrap.dedent("""
    import argparse, os, sys
    import cairn
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args()
    for epoch in range(args.epochs):
        cairn.log({"acc": 0.5 + epoch / 10, "loss": 1.0 / (epoch + 1)}, step=epoch)
        print(f"epoch {epoch} done", flush=True)
    os.makedirs("model", exist_ok=True)
    with open("model/weights.txt", "w") as fh:
        fh.write(f"lr={args.lr}")
    print("seed", os.environ.get("PYTHONHASHSEED"))
    print("warning on stderr", file=sys.stderr)
    sys.exit(3 if args.fail else 0)
""")


@pytest.fixture
def repo(workdir: Path) -> Path:
    git(workdir, "init", "-q", "-b", "main")
    git(workdir, "remote", "add", "origin", "https://alice:s3cret@example.com/team/proj.git")
    (workdir / "train.py").write_text(TRAIN)
    (workdir / "data").mkdir()
    (workdir / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (workdir / ".gitignore").write_text("model/\ndata/\n")
    git(workdir, "add", "-A")
    git(workdir, "commit", "-q", "-m", "first")
    return workdir


def show(root: Path, ref: str = "last") -> dict:  # type: ignore[type-arg]
    done = cairn_cli("show", ref, "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_python_run_records_everything(repo: Path) -> None:
    (repo / "helper.py").write_text("X = 1\n")  # untracked
    (repo / "train.py").write_text(TRAIN + "\n# tweak\n")  # uncommitted change
    done = cairn_cli("run", "--name", "first", "--tag", "team=vision", "-i", "data/", "-o",
                     "model/", "--", sys.executable, "train.py", "--lr", "0.05", "--epochs",
                     "3", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "epoch 2 done" in done.stdout
    assert "warning on stderr" in done.stderr
    assert "run 1 finished" in done.stderr and "acc 0.7" in done.stderr

    info = show(repo)
    assert info["name"] == "first" and info["status"] == "finished" and info["exit_code"] == 0
    assert info["command"][1:] == ["train.py", "--lr", "0.05", "--epochs", "3"]
    assert info["params"] == {"lr": 0.05, "epochs": 3, "fail": False}
    assert info["metrics"] == {"acc": pytest.approx(0.7), "loss": pytest.approx(1 / 3)}
    assert info["tags"] == {"team": "vision"}
    code = info["code"]
    assert code["branch"] == "main" and len(code["commit"]) == 40 and code["dirty"] is True
    assert "+# tweak" in code["diff"]
    assert code["remote"] == "https://example.com/team/proj.git"  # credentials stripped
    assert code["untracked"]["count"] == 1
    env = info["env"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert "pytest" in env["packages"]  # the child's interpreter: this test's venv
    assert info["host"]["cpu_count"] >= 1
    assert [i["path"] for i in info["inputs"]] == ["data"]
    assert [o["path"] for o in info["outputs"]] == ["model"]
    assert info["inputs"][0]["size"] == len("x,y\n1,2\n3,4\n")
    seed = info["env_vars"]["PYTHONHASHSEED"]
    assert f"seed {seed}" in done.stdout  # the child got the recorded seed


def test_exit_code_passes_through_and_the_run_failed(repo: Path) -> None:
    done = cairn_cli("run", "--", sys.executable, "train.py", "--fail", cwd=repo)
    assert done.returncode == 3
    info = show(repo)
    assert (info["status"], info["exit_code"]) == ("failed", 3)


def test_logs_returns_what_the_command_printed(repo: Path) -> None:
    cairn_cli("run", "--", sys.executable, "train.py", cwd=repo)
    done = cairn_cli("logs", "1", cwd=repo)
    assert done.returncode == 0
    assert "epoch 1 done" in done.stdout and "warning on stderr" in done.stdout


def test_a_non_python_command_and_its_flags_as_params(repo: Path) -> None:
    done = cairn_cli("run", "--", "echo", "--lr", "0.1", "--mode=fast", "--verbose", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert "--lr 0.1 --mode=fast --verbose" in done.stdout
    assert show(repo)["params"] == {"lr": 0.1, "mode": "fast", "verbose": True}


def test_params_and_metrics_files(repo: Path) -> None:
    (repo / "params.yaml").write_text("model:\n  depth: 4\n  kind: rf\nseed: 7\n")
    script = "import json; json.dump({'auc': 0.91, 'val': {'loss': 0.2}}, open('m.json', 'w'))"
    done = cairn_cli("run", "--params", "params.yaml", "--metrics", "m.json", "--",
                     sys.executable, "-c", script, cwd=repo)
    assert done.returncode == 0, done.stderr
    info = show(repo)
    assert info["params"]["model.depth"] == 4 and info["params"]["model.kind"] == "rf"
    assert info["metrics"] == {"auc": 0.91, "val.loss": 0.2}


def test_secrets_in_the_environment_are_redacted(repo: Path) -> None:
    (repo / ".cairn").mkdir(exist_ok=True)
    (repo / ".cairn" / "config.toml").write_text('[capture]\nenv = ["MY_*"]\n')
    done = cairn_cli("run", "--", "true", cwd=repo,
                     env={"MY_API_TOKEN": "abc123", "MY_SETTING": "plain",
                          "MY_URL": "https://bob:pw@db.example.com/x"})
    assert done.returncode == 0, done.stderr
    env_vars = show(repo)["env_vars"]
    assert env_vars["MY_API_TOKEN"] == "***" and env_vars["MY_SETTING"] == "plain"
    assert "pw" not in env_vars["MY_URL"]


def test_snapshot_records_state_without_running(repo: Path) -> None:
    done = cairn_cli("snapshot", "-m", "before refactor", "-i", "data/", cwd=repo)
    assert done.returncode == 0, done.stderr
    info = show(repo)
    assert info["status"] == "finished" and info["command"] is None
    assert info["message"] == "before refactor"
    assert info["inputs"][0]["path"] == "data" and info["code"]["commit"]


def test_diff_of_two_runs(repo: Path) -> None:
    cairn_cli("run", "-o", "model", "--", sys.executable, "train.py", "--lr", "0.1", cwd=repo)
    cairn_cli("run", "-o", "model", "--", sys.executable, "train.py", "--lr", "0.2", cwd=repo)
    done = cairn_cli("diff", "1", "2", "--json", cwd=repo)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    params = {r["key"]: r for r in result["params"]}
    assert params["lr"]["a"] == 0.1 and params["lr"]["b"] == 0.2 and not params["lr"]["same"]
    assert params["fail"]["same"]
    metrics = {r["key"]: r for r in result["metrics"]}
    assert metrics["acc"]["same"]
    assert result["code"]["same_commit"] is True
    assert result["packages"]["same"] > 10  # both ran in this interpreter
    assert result["outputs"] == [{"path": "model/weights.txt", "status": "changed",
                                  "a_oid": result["outputs"][0]["a_oid"],
                                  "b_oid": result["outputs"][0]["b_oid"]}]
    readable = cairn_cli("diff", "1", "2", cwd=repo)
    assert "lr" in readable.stdout and "0.2" in readable.stdout


# -- bad input: one readable sentence, a non-zero exit, nothing recorded or lost -------------
def run_count(root: Path) -> int:
    return len(json.loads(cairn_cli("ls", "--json", "--all", cwd=root).stdout))


def test_no_command(repo: Path) -> None:
    done = cairn_cli("run", cwd=repo)
    assert done.returncode == 2 and "no command given" in done.stderr
    assert "Traceback" not in done.stderr


def test_command_not_found_is_127_and_recorded_failed(repo: Path) -> None:
    done = cairn_cli("run", "--", "no-such-command-xyz", cwd=repo)
    assert done.returncode == 127
    assert "command not found: no-such-command-xyz" in done.stderr
    assert "Traceback" not in done.stderr
    assert show(repo)["status"] == "failed"


def test_missing_input_stops_before_anything_runs(repo: Path) -> None:
    marker = repo / "ran"
    done = cairn_cli("run", "-i", "nope/", "--", "touch", str(marker), cwd=repo)
    assert done.returncode == 2
    assert "the input 'nope' does not exist" in done.stderr
    assert not marker.exists() and run_count(repo) == 0


def test_params_file_that_does_not_parse(repo: Path) -> None:
    cairn_cli("run", "--", "true", cwd=repo)
    (repo / "bad.json").write_text('{"lr": 0.1,,}')
    done = cairn_cli("run", "--params", "bad.json", "--", "true", cwd=repo)
    assert done.returncode == 2
    assert "bad.json" in done.stderr and "Traceback" not in done.stderr
    assert run_count(repo) == 1


def test_bad_tag(repo: Path) -> None:
    done = cairn_cli("run", "--tag", "novalue", "--", "true", cwd=repo)
    assert done.returncode == 2 and "KEY=VALUE" in done.stderr


# -- signals ----------------------------------------------------------------------------------
def _start_cairn(repo: Path, code: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, COLUMNS="200")
    return subprocess.Popen([sys.executable, "-m", "cairn", "run", "--", sys.executable, "-c",
                             code], cwd=repo, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _wait_for_running(repo: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = json.loads(cairn_cli("ls", "--json", cwd=repo).stdout or "[]")
        if rows and rows[0]["status"] == "running":
            return
        time.sleep(0.2)
    raise AssertionError("the run never started")


def test_sigterm_is_forwarded_and_the_run_is_killed(repo: Path) -> None:
    marker = repo / "got-term"
    code = textwrap.dedent(f"""
        import signal, sys, time, pathlib
        def on_term(*_):
            pathlib.Path({str(marker)!r}).write_text("yes")
            sys.exit(143)
        signal.signal(signal.SIGTERM, on_term)
        print("ready", flush=True)
        time.sleep(60)
    """)
    proc = _start_cairn(repo, code)
    _wait_for_running(repo)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert marker.read_text() == "yes"
    assert show(repo)["status"] == "killed"


def test_a_killed_cairn_run_reads_crashed(repo: Path) -> None:
    proc = _start_cairn(repo, "import time; time.sleep(30)")
    _wait_for_running(repo)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert show(repo)["status"] == "crashed"


def test_logs_follow_streams_a_live_run_until_it_ends(repo: Path) -> None:
    code = textwrap.dedent("""
        import time
        for i in range(6):
            print(f"line {i}", flush=True)
            time.sleep(0.3)
    """)
    proc = _start_cairn(repo, code)
    _wait_for_running(repo)
    follow = cairn_cli("logs", "last", "--follow", cwd=repo, timeout=60)
    proc.wait(timeout=60)
    assert follow.returncode == 0, follow.stderr
    assert [f"line {i}" for i in range(6)] == [
        line for line in follow.stdout.splitlines() if line.startswith("line")
    ]


def test_declared_data_is_not_stored_again_as_code(workdir: Path) -> None:
    """Outside git the sources are snapshotted; `-i`/`-o` folders are data, not code."""
    (workdir / "train.py").write_text("print('hi')\n")
    (workdir / "data").mkdir()
    for i in range(20):
        (workdir / "data" / f"part{i}.csv").write_text(f"{i}\n")
    done = cairn_cli("snapshot", "-i", "data", cwd=workdir)
    assert done.returncode == 0, done.stderr
    info = show(workdir)
    assert info["code"]["kind"] == "snapshot"
    assert info["code"]["snapshot"]["count"] == 1  # train.py only
    assert info["inputs"][0]["path"] == "data"


def test_untracked_declared_outputs_are_not_code(repo: Path) -> None:
    (repo / ".gitignore").write_text("")  # model/ and data/ now show as untracked
    git(repo, "commit", "-qam", "track everything")
    done = cairn_cli("run", "-i", "data", "-o", "model", "--", sys.executable, "train.py",
                     cwd=repo)
    assert done.returncode == 0, done.stderr
    code = show(repo)["code"]
    assert code["untracked"] is None or code["untracked"]["count"] == 0
