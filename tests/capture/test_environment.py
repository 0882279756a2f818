"""Which interpreter a command runs, what is installed in it, and the lock files."""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.capture import environment
from cairn.capture.environment import (
    capture_environment_of,
    environment_from_report,
    load_packages,
    lock_files,
    normalize_name,
    python_of_command,
    report_interpreter,
    store_packages,
)
from cairn.objects.local import LocalObjectStore
from cairn.store.record_parts import Environment

BOOT = Path(environment.__file__).parents[1] / "runner" / "bootstrap" / "_cairn_boot.py"


def make_exe(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bin"
    make_exe(folder / "python3")
    make_exe(folder / "python3.11")
    make_exe(folder / "Rscript")
    make_exe(folder / "pytest", f"#!{folder / 'python3'}\nimport pytest\n")
    make_exe(folder / "tool", "#!/usr/bin/env -S python3 -u\nprint(1)\n")
    make_exe(folder / "shtool", "#!/bin/sh\necho hi\n")
    long_python = tmp_path / ("x" * 120) / "bin" / "python"
    make_exe(long_python)
    make_exe(folder / "longpath", f"#!/bin/sh\n'''exec' {long_python} \"$0\" \"$@\"\n' '''\n")
    return folder


def test_python_of_command(tmp_path: Path, bin_dir: Path) -> None:
    env = {"PATH": str(bin_dir)}
    venv_python = make_exe(tmp_path / "proj" / ".venv" / "bin" / "python")
    make_exe(tmp_path / "proj" / "train.py", f"#!{venv_python}\n")

    def which(*argv: str) -> str | None:
        return python_of_command(list(argv), env, cwd=tmp_path)

    assert which("python3", "train.py") == str(bin_dir / "python3")
    assert which("python3.11", "-m", "pkg.train") == str(bin_dir / "python3.11")
    assert which(str(venv_python), "x.py") == str(venv_python)
    assert which("proj/.venv/bin/python", "x.py") == str(venv_python)  # relative to cwd
    assert which("./proj/train.py", "--lr", "1") == str(venv_python)  # shebang
    assert which("pytest", "-q") == str(bin_dir / "python3")  # a console script
    assert which("tool") == str(bin_dir / "python3")  # env -S python3 -u
    assert which("longpath") == str(tmp_path / ("x" * 120) / "bin" / "python")
    assert which("env", "OMP_NUM_THREADS=1", "python3", "a.py") == str(bin_dir / "python3")
    assert which("Rscript", "train.R") is None
    assert which("shtool") is None
    assert which("missing-program") is None
    assert which("python2.7") is None  # not on this PATH
    assert which() is None


def test_uv_run_uses_the_project_environment(tmp_path: Path, bin_dir: Path) -> None:
    project = tmp_path / "proj"
    venv_python = make_exe(project / ".venv" / "bin" / "python")
    make_exe(project / ".venv" / "bin" / "pytest", f"#!{venv_python}\n")
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (project / "src").mkdir()
    env = {"PATH": str(bin_dir)}

    def which(*argv: str, cwd: Path = project) -> str | None:
        return python_of_command(["uv", "run", *argv], env, cwd=cwd)

    assert which("python", "train.py") == str(venv_python)
    assert which("train.py", cwd=project / "src") == str(venv_python)
    assert which("--frozen", "--python", "3.11", "pytest") == str(venv_python)
    assert which("--project", str(project), "python", "x.py", cwd=tmp_path) == str(venv_python)
    # An ephemeral environment: uv decides; fall back to the command itself.
    assert which("--with", "rich", "python3", "x.py") == str(bin_dir / "python3")
    assert which("Rscript", "x.R") is None


def test_report_matches_importlib_metadata() -> None:
    report = report_interpreter()
    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        expected.setdefault(normalize_name(dist.metadata["Name"]), dist.version)
    assert report["packages"] == expected
    assert report["executable"] == sys.executable
    assert report["prefix"] == sys.prefix
    assert report["version"] == ".".join(map(str, sys.version_info[:3]))
    # cairn itself is installed from a local folder, in editable mode
    direct = json.loads(report["direct_urls"]["cairn"])
    assert direct["url"].startswith("file://")


def test_report_reads_egg_info_and_odd_folders(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "Foo_Bar-1.2.dist-info").mkdir(parents=True)
    (site / "Foo_Bar-1.2.dist-info" / "METADATA").write_text("Name: foo-bar\nVersion: 1.2\n")
    (site / "legacy.egg-info").mkdir()
    (site / "legacy.egg-info" / "PKG-INFO").write_text("Name: Legacy\nVersion: 0.3\n\nbody\n")
    (site / "single-0.1-py3.11.egg-info").write_text("Metadata-Version: 1.0\nName: single\n"
                                                     "Version: 0.1\n")  # fmt: skip
    (site / "foo_bar-9.9.dist-info").mkdir()  # shadowed: the first folder on the path wins
    later = tmp_path / "later"
    (later / "foo_bar-2.0.dist-info").mkdir(parents=True)
    report = report_interpreter([str(site), str(tmp_path / "nowhere"), str(later)])
    assert report["packages"] == {"foo-bar": "1.2", "legacy": "0.3", "single": "0.1"}


def test_report_source_is_the_bootstraps() -> None:
    source = BOOT.read_text()
    assert source[source.index("def report_interpreter(") :] == inspect.getsource(
        report_interpreter
    )


def test_capture_environment_of_this_interpreter() -> None:
    env = capture_environment_of(sys.executable)
    assert env is not None
    assert env.executable == sys.executable
    assert env.prefix == sys.prefix
    assert "pytest" in env.packages and "cairn" in env.direct_urls
    assert Environment.from_json(env.to_json()) == env


def test_capture_environment_of_a_venv(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")

    env = capture_environment_of(python)

    assert env is not None
    assert env.executable == python
    assert Path(env.prefix) == venv and env.prefix != sys.prefix
    assert env.in_venv
    assert "pytest" not in env.packages


def test_capture_environment_of_a_missing_interpreter(tmp_path: Path) -> None:
    assert capture_environment_of(str(tmp_path / "no-python")) is None
    not_python = tmp_path / "fake"
    make_exe(not_python, "#!/bin/sh\necho hello\n")
    assert capture_environment_of(str(not_python)) is None


def test_noisy_interpreter_start_is_tolerated(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("print('hello from sitecustomize')\n")
    env = capture_environment_of(sys.executable, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert env is not None and env.executable == sys.executable


def test_environment_from_report_and_package_objects(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", fsync=False)
    report = {
        "executable": "/venv/bin/python",
        "version": "3.11.7",
        "implementation": "CPython",
        "platform": "linux-x86_64",
        "prefix": "/venv",
        "base_prefix": "/usr",
        "packages": {"NumPy": "2.0.0", "mylib": "0.1"},
        "direct_urls": {"mylib": '{"url": "file:///src/mylib", "dir_info": {"editable": true}}',
                        "broken": "{not json"},
    }  # fmt: skip
    env = environment_from_report(report, [("uv.lock", "ab" * 32)])
    assert env.packages == {"numpy": "2.0.0", "mylib": "0.1"}
    assert env.direct_urls == {
        "mylib": {"url": "file:///src/mylib", "dir_info": {"editable": True}}
    }
    assert env.lock_files[0].path == "uv.lock"
    assert env.in_venv

    stored = store_packages(env, store)
    again = store_packages(environment_from_report(dict(reversed(list(report.items())))), store)
    assert stored.packages_oid is not None and stored.packages_oid == again.packages_oid
    assert load_packages(store, stored.packages_oid) == (dict(env.packages), dict(env.direct_urls))
    slim = stored.to_json(inline_packages=False)
    assert "packages" not in slim and slim["packages_oid"] == stored.packages_oid
    assert Environment.from_json(stored.to_json()) == stored


def test_lock_files(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path / "objects", fsync=False)
    root = tmp_path / "proj"
    root.mkdir()
    for name in (
        "uv.lock",
        "requirements.txt",
        "requirements-dev.txt",
        "pyproject.toml",
        "environment.yml",
        "poetry.lock",
        "Pipfile.lock",
        "setup.py",
        "notes.txt",
    ):
        (root / name).write_text(f"content of {name}\n")  # fmt: skip
    (root / "requirements").mkdir()
    found = lock_files(root, store)
    assert [name for name, _ in found] == [
        "Pipfile.lock", "environment.yml", "poetry.lock", "pyproject.toml",
        "requirements-dev.txt", "requirements.txt", "uv.lock",
    ]  # fmt: skip
    assert store.get_bytes(dict(found)["uv.lock"]) == b"content of uv.lock\n"
