"""Rebuilding a recorded environment with the real ``uv``, from the real package index.

These tests install a small pinned set from PyPI. Without a connection they are skipped,
with the reason, except in CI (``CI`` set), where they must run.
"""

from __future__ import annotations

import os
import subprocess
import urllib.request
from pathlib import Path

import pytest

from cairn.reproduce.envbuild import cairn_install_args, choose_python, uv_binary
from tests.reproduce.conftest import commit_all, record_run, repro_json, show, write


@pytest.fixture(scope="module")
def pypi() -> None:
    try:
        with urllib.request.urlopen("https://pypi.org/simple/six/", timeout=15) as reply:
            reply.read(1)
    except Exception as exc:  # any failure means: no usable index here
        if os.environ.get("CI"):
            pytest.fail(f"PyPI must be reachable in CI: {exc}")
        pytest.skip(f"PyPI cannot be reached: {exc}")


def _uv(*args: str, cwd: Path) -> None:
    done = subprocess.run([uv_binary(), *args], cwd=cwd, capture_output=True, text=True,
                          check=False, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    assert done.returncode == 0, done.stderr


def _small_venv(where: Path, *extra: str) -> Path:
    """A venv holding six 1.16.0, cairn and ``extra``: the environment a user recorded."""
    import sys

    _uv("venv", "--quiet", "--python", sys.executable, str(where), cwd=where.parent)
    python = where / "bin" / "python"
    _uv("pip", "install", "--quiet", "--python", str(python), "six==1.16.0",
        *cairn_install_args(), *extra, cwd=where.parent)
    return python


SCRIPT = """
    import six
    import cairn
    cairn.log({"six_major": int(six.__version__.split(".")[0]), "score": 0.25})
    print("six", six.__version__)
"""


@pytest.mark.usefixtures("pypi")
def test_a_uv_built_venv_reproduces_the_run_and_is_reused(repo: Path, tmp_path: Path,
                                                          _private_cache: Path) -> None:
    local = tmp_path / "localpkg"
    write(local, "pyproject.toml", """
        [project]
        name = "localpkg"
        version = "0.1"
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"
    """)
    write(local, "localpkg.py", "X = 1\n")
    python = _small_venv(tmp_path / "small", str(local))
    write(repo, "use_six.py", SCRIPT)
    commit_all(repo)
    record_run(repo, "--", str(python), "use_six.py")
    assert show(repo, "1")["env"]["packages"]["six"] == "1.16.0"
    import shutil

    shutil.rmtree(local)  # installed from a folder that is now gone: cannot be rebuilt

    code, verdict, err = repro_json(repo, "1")

    assert code == 0, err
    assert verdict["verdict"] == "REPRODUCED"
    env = verdict["environment"]
    assert env["mode"] == "venv" and env["cached"] is False
    assert env["python"]["used"] == env["python"]["recorded"]
    assert env["package_mismatches"] == [{"name": "localpkg", "recorded": "0.1", "used": None}]
    assert [item["requirement"] for item in env["not_rebuildable"]] == [
        f"localpkg @ file://{local}"
    ]
    rebuilt = show(repo, "2")["env"]
    assert rebuilt["executable"].startswith(str(_private_cache / "cairn" / "envs"))
    assert rebuilt["packages"]["six"] == "1.16.0"
    assert "venv built with uv" in err and "not rebuilt: localpkg" in err

    code, verdict, err = repro_json(repo, "1")

    assert code == 0, err
    assert verdict["environment"]["cached"] is True
    assert "reused the cached venv" in err


@pytest.mark.usefixtures("pypi")
def test_a_recorded_uv_lock_is_the_source_of_the_rebuild(repo: Path, tmp_path: Path) -> None:
    write(repo, "pyproject.toml", """
        [project]
        name = "demo"
        version = "0.1.0"
        requires-python = ">=3.11"
        dependencies = ["six==1.16.0"]
    """)
    _uv("lock", "--quiet", cwd=repo)
    write(repo, "use_six.py", SCRIPT)
    commit_all(repo)
    python = _small_venv(tmp_path / "small")
    record_run(repo, "--", str(python), "use_six.py")
    assert {f["path"] for f in show(repo, "1")["env"]["lock_files"]} >= {"uv.lock",
                                                                          "pyproject.toml"}

    code, verdict, err = repro_json(repo, "1")

    assert code == 0, err
    assert verdict["environment"]["source"] == "the recorded uv.lock"
    assert show(repo, "2")["env"]["packages"]["six"] == "1.16.0"


def test_a_python_version_that_is_not_here_falls_back_to_the_closest() -> None:
    choice = choose_python(uv_binary(), "3.99.0")

    assert choice.version != "3.99.0"
    assert choice.version.startswith("3.")
    assert choice.note is not None and "Python 3.99.0 is not available here" in choice.note
    assert Path(choice.path).exists()
