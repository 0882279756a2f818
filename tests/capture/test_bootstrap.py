"""The bootstrap in real Python children: params, interpreter report, chaining, safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import cairn.runner

BOOTSTRAP = Path(cairn.runner.__file__).parent / "bootstrap"

TRAIN = """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--out", type=__import__("pathlib").Path, default="model.pkl")
parser.add_argument("--layers", type=int, nargs="*", default=[8])
args = parser.parse_args()
print("trained", args.lr, args.epochs)
"""


def run_child(
    tmp_path: Path,
    script: str,
    *args: str,
    python: str = sys.executable,
    pythonpath: list[Path] | None = None,
    run_id: str | None = "run123",
    extra_env: dict[str, str] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / "script.py"
    path.write_text(textwrap.dedent(script))
    out = tmp_path / "boot.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAIRN_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [BOOTSTRAP, *(pythonpath or [])])
    env["CAIRN_BOOT_OUT"] = str(out)
    if run_id is not None:
        env["CAIRN_RUN_ID"] = run_id
    env.update(extra_env or {})
    done = subprocess.run(
        [python, str(path), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    return done, out


def read(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_argparse_params_and_interpreter_are_written(tmp_path: Path) -> None:
    done, out = run_child(tmp_path, TRAIN, "--lr", "0.1", "--epochs", "3", "--layers", "4", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "trained 0.1 3\n"
    assert done.stderr == ""
    doc = read(out)
    assert doc["params"] == {"lr": 0.1, "epochs": 3, "out": "model.pkl", "layers": [4, 2]}
    assert doc["param_sources"] == ["argparse"]
    interp = doc["interpreter"]
    assert interp["executable"] == sys.executable
    assert interp["prefix"] == sys.prefix
    assert "pytest" in interp["packages"] and "cairn" in interp["direct_urls"]
    assert doc["argv"][1:] == ["--lr", "0.1", "--epochs", "3", "--layers", "4", "2"]


def test_subparsers_and_later_parses_merge(tmp_path: Path) -> None:
    script = """
    import argparse
    top = argparse.ArgumentParser()
    top.add_argument("--seed", type=int, default=0)
    sub = top.add_subparsers(dest="command")
    fit = sub.add_parser("fit")
    fit.add_argument("--depth", type=int, default=3)
    fit.set_defaults(handler=print)
    top.parse_args()
    # a library parsing its own options later only adds names it did not see
    extra = argparse.ArgumentParser()
    extra.add_argument("--seed", type=int, default=99)
    extra.add_argument("--workers", type=int, default=2)
    extra.parse_known_args([])
    """
    done, out = run_child(tmp_path, script, "--seed", "5", "fit", "--depth", "7")
    assert done.returncode == 0, done.stderr
    assert read(out)["params"] == {
        "seed": 5, "command": "fit", "depth": 7, "handler": "builtins.print", "workers": 2,
    }  # fmt: skip


def test_click_params_are_recorded(tmp_path: Path) -> None:
    pytest.importorskip("click")
    script = """
    import click

    @click.group()
    @click.option("--seed", default=0, type=int)
    def cli(seed):
        pass

    @cli.command()
    @click.option("--lr", default=0.01, type=float)
    @click.argument("data")
    def train(lr, data):
        print("lr", lr)

    cli()
    """
    done, out = run_child(tmp_path, script, "--seed", "3", "train", "--lr", "0.5", "d.csv")
    assert done.returncode == 0, done.stderr
    doc = read(out)
    assert doc["params"] == {"seed": 3, "lr": 0.5, "data": "d.csv"}
    assert doc["param_sources"] == ["click"]


def test_failing_child_still_writes(tmp_path: Path) -> None:
    script = TRAIN + "\nraise RuntimeError('diverged')\n"
    done, out = run_child(tmp_path, script, "--lr", "9")
    assert done.returncode == 1
    assert "RuntimeError: diverged" in done.stderr
    assert "cairn" not in done.stderr
    doc = read(out)
    assert doc["params"]["lr"] == 9.0
    assert doc["interpreter"]["packages"]


def test_sys_exit_child_still_writes(tmp_path: Path) -> None:
    done, out = run_child(tmp_path, TRAIN + "\nimport sys; sys.exit(3)\n", "--epochs", "2")
    assert done.returncode == 3
    assert read(out)["params"]["epochs"] == 2


def test_os_exit_keeps_params(tmp_path: Path) -> None:
    done, out = run_child(tmp_path, TRAIN + "\nimport os; os._exit(0)\n", "--epochs", "4")
    assert done.returncode == 0
    doc = read(out)
    assert doc["params"]["epochs"] == 4
    assert doc["interpreter"] is None  # the exit handler never ran


def test_bad_arguments_exit_as_usual(tmp_path: Path) -> None:
    done, out = run_child(tmp_path, TRAIN, "--epochs", "many")
    assert done.returncode == 2
    assert "invalid int value" in done.stderr
    assert read(out)["params"] == {}


def test_existing_sitecustomize_still_runs(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text(
        "import os\nos.environ['THEIRS_RAN'] = 'yes'\nMARK = 'theirs'\n"
    )
    script = (
        textwrap.dedent("""
    import os, sitecustomize
    print(os.environ.get("THEIRS_RAN"), sitecustomize.MARK)
    """)
        + TRAIN
    )
    done, out = run_child(tmp_path, script, "--lr", "0.2", pythonpath=[theirs])
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "yes theirs"
    assert read(out)["params"]["lr"] == 0.2


def test_broken_sitecustomize_does_not_stop_the_child(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("raise ValueError('their bug')\n")
    done, out = run_child(tmp_path, TRAIN, pythonpath=[theirs])
    assert done.returncode == 0
    assert "ValueError: their bug" in done.stderr
    assert read(out)["params"]["lr"] == 0.01


def test_without_run_id_nothing_happens(tmp_path: Path) -> None:
    script = """
    import argparse
    print(hasattr(argparse.ArgumentParser.parse_known_args, "__cairn_hook__"))
    """
    done, out = run_child(tmp_path, script, run_id=None)
    assert done.stdout == "False\n"
    assert not out.exists()


def test_nothing_costly_is_imported_at_start(tmp_path: Path) -> None:
    script = """
    import sys
    print(sorted(m for m in ("argparse", "json", "re", "typing", "threading", "click", "cairn")
                 if m in sys.modules))
    """
    with_boot, _ = run_child(tmp_path, script)
    without, _ = run_child(tmp_path, script, run_id=None)
    assert with_boot.stdout == without.stdout


def test_grandchildren_do_not_overwrite_the_file(tmp_path: Path) -> None:
    script = (
        textwrap.dedent("""
    import os, subprocess, sys
    print(os.environ.get("CAIRN_BOOT_OUT"))
    grandchild = "import argparse; argparse.ArgumentParser().parse_args([])"
    subprocess.run([sys.executable, "-c", grandchild])
    pid = os.fork()
    if pid == 0:
        sys.exit(0)  # the forked copy runs exit handlers, but must not write
    os.waitpid(pid, 0)
    """)
        + TRAIN
    )
    done, out = run_child(tmp_path, script, "--epochs", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "None"
    doc = read(out)
    assert doc["params"]["epochs"] == 5
    assert doc["argv"][0].endswith("script.py")


def test_venv_child_reports_its_own_interpreter(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    done, out = run_child(tmp_path, TRAIN, "--lr", "0.3", python=python)
    assert done.returncode == 0, done.stderr  # runs although cairn is not installed there
    doc = read(out)
    assert doc["params"]["lr"] == 0.3
    interp = doc["interpreter"]
    assert interp["executable"] == python != sys.executable
    assert interp["prefix"] == str(venv) != sys.prefix
    assert "pytest" not in interp["packages"]


def test_unusual_values_are_written_as_valid_json(tmp_path: Path) -> None:
    script = """
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("--text", default='quote " back \\\\ tab \\t é 😀 \\x7f')
    p.add_argument("--inf", type=float, default=float("inf"))
    p.add_argument("--obj", default=object)
    p.add_argument("--s", default={1, 2})
    p.parse_args()
    """
    done, out = run_child(tmp_path, script)
    assert done.returncode == 0, done.stderr
    params = read(out)["params"]
    assert params["text"] == 'quote " back \\ tab \t é 😀 \x7f'
    assert params["inf"] == float("inf")
    assert params["obj"] == "builtins.object"
    assert params["s"] == "{1, 2}"


def test_debug_reports_internal_errors(tmp_path: Path) -> None:
    # An output path that cannot be written: the child is unaffected, CAIRN_DEBUG says why.
    bad = str(tmp_path / "missing-folder" / "boot.json")
    done, _ = run_child(tmp_path, TRAIN, extra_env={"CAIRN_BOOT_OUT": bad, "CAIRN_DEBUG": "1"})
    assert done.returncode == 0
    assert "cairn bootstrap: writing" in done.stderr
    quiet, _ = run_child(tmp_path, TRAIN, extra_env={"CAIRN_BOOT_OUT": bad})
    assert quiet.returncode == 0 and quiet.stderr == ""
