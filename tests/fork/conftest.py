"""Projects in real git repositories with a small argparse script, recorded by ``cairn run``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import cairn_cli, cairn_ok, commit_all, git, write  # noqa: F401

PYTHON = sys.executable

TRAIN = """
    import argparse, pathlib
    import cairn

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--n-steps", type=int, default=3)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    rows = [float(x) for x in pathlib.Path("data/train.csv").read_text().split(",")]
    weight = sum(rows) * args.lr * args.n_steps
    cairn.log({"weight": weight})
    pathlib.Path("out").mkdir(exist_ok=True)
    pathlib.Path("out/weight.txt").write_text(f"{weight:.9f}\\n")
    print(f"weight {weight:.6f}" + (" (verbose)" if args.verbose else ""))
"""








def show(root: Path, ref: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(cairn_ok("show", ref, "--json", cwd=root).stdout)
    return data


def run_count(root: Path) -> int:
    return len(json.loads(cairn_ok("ls", "--json", cwd=root).stdout))


@pytest.fixture
def repo(workdir: Path) -> Path:
    """A git repository holding a cairn project, a training script and ignored data."""
    git(workdir, "init", "-q", "-b", "main")
    write(workdir, ".gitignore", "data/\nout/\nother/\n")
    write(workdir, "train.py", TRAIN)
    write(workdir, "data/train.csv", "1,2,3")
    commit_all(workdir, "first")
    cairn_ok("init", cwd=workdir)
    return workdir


@pytest.fixture
def trained(repo: Path) -> Path:
    """Run 1: ``train.py --lr 0.1 --n-steps 3`` with ``data`` in and ``out`` out."""
    cairn_ok("run", "-i", "data", "-o", "out", "--", PYTHON, "train.py", "--lr", "0.1",
             "--n-steps", "3", cwd=repo)
    return repo
