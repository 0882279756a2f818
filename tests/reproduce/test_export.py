"""``cairn env export``: the recorded environment as pins, a Dockerfile or a uv project."""

from __future__ import annotations

import importlib.metadata as md
import json
import sys
import tomllib
from pathlib import Path

from cairn.reproduce.packages import requirement
from tests.conftest import cairn_cli
from tests.reproduce.conftest import PYTHON, commit_all, record_run, write

CAIRN_SOURCE = json.loads(md.distribution("cairn").read_text("direct_url.json") or "{}")


def _python_run(repo: Path) -> None:
    write(repo, "train.py", "import cairn\ncairn.log({'acc': 1.0})\n")
    commit_all(repo)
    record_run(repo, "--", PYTHON, "train.py")


def test_requirements_pin_every_recorded_package(repo: Path) -> None:
    _python_run(repo)

    done = cairn_cli("env", "export", "1", "--format", "requirements", cwd=repo)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"click=={md.version('click')}" in lines
    assert f"pyyaml=={md.version('pyyaml')}" in lines
    assert lines[0].startswith("# the packages of cairn run 1 (Python ")
    if CAIRN_SOURCE.get("dir_info", {}).get("editable"):
        # Installed from a local folder: written as installed, with a warning.
        source = CAIRN_SOURCE["url"].removeprefix("file://")
        assert f"-e {source}" in lines
        assert "cannot be pinned" in done.stderr and "cairn" in done.stderr


def test_a_dockerfile_installs_the_pins_copies_the_code_and_runs_the_command(
    repo: Path, tmp_path: Path
) -> None:
    _python_run(repo)
    target = tmp_path / "Dockerfile"

    done = cairn_cli("env", "export", "1", "--format", "dockerfile", "-o", str(target),
                     cwd=repo)

    assert done.returncode == 0, done.stderr
    text = target.read_text()
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"FROM python:{minor}-slim" in text
    assert f"click=={md.version('click')}" in text
    assert "COPY . /app" in text
    assert 'CMD ["python", "train.py"]' in text
    assert "ENV PYTHONHASHSEED=" in text
    assert done.stdout == ""


def test_a_uv_project_lists_the_pins_as_dependencies(repo: Path) -> None:
    _python_run(repo)

    done = cairn_cli("env", "export", "1", "--format", "uv", cwd=repo)

    assert done.returncode == 0, done.stderr
    doc = tomllib.loads(done.stdout)
    minor = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert doc["project"]["requires-python"] == f"=={minor}.*"
    assert f"click=={md.version('click')}" in doc["project"]["dependencies"]
    if CAIRN_SOURCE.get("dir_info", {}).get("editable"):
        assert "cairn" in doc["project"]["dependencies"]
        assert doc["tool"]["uv"]["sources"]["cairn"]["editable"] is True


def test_a_run_without_python_has_no_environment_to_export(repo: Path) -> None:
    write(repo, "job.sh", "echo hi\n")
    commit_all(repo)
    record_run(repo, "--", "sh", "job.sh")

    done = cairn_cli("env", "export", "1", "--format", "requirements", cwd=repo)

    assert done.returncode == 2
    assert "no Python environment" in done.stderr and "Traceback" not in done.stderr


def test_an_unknown_format_is_refused(repo: Path) -> None:
    _python_run(repo)

    done = cairn_cli("env", "export", "1", "--format", "conda", cwd=repo)

    assert done.returncode == 2
    assert "conda" in done.stderr and "Traceback" not in done.stderr


def test_install_sources_are_written_as_recorded() -> None:
    vcs = requirement("lib", "1.2", {
        "url": "https://github.com/o/lib.git",
        "vcs_info": {"vcs": "git", "commit_id": "abc123", "requested_revision": "main"},
    })
    assert vcs.line == "lib @ git+https://github.com/o/lib.git@abc123"
    assert vcs.warning is None and vcs.uv_source == {"git": "https://github.com/o/lib.git",
                                                     "rev": "abc123"}
    folder = requirement("mine", "0.1", {"url": "file:///home/me/mine",
                                         "dir_info": {"editable": True}})
    assert folder.args == ("-e", "/home/me/mine")
    assert folder.warning and "cannot be pinned" in folder.warning
    assert not folder.rebuildable_here
    wheel = requirement("w", "2.0", {"url": "https://example.com/w-2.0-py3-none-any.whl",
                                     "archive_info": {"hash": "sha256=ff"}})
    assert wheel.line == "w @ https://example.com/w-2.0-py3-none-any.whl#sha256=ff"
    assert requirement("six", "1.16.0", None).line == "six==1.16.0"
