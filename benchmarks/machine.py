"""The machine and the versions a set of figures came from."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _filesystem(path: Path) -> str:
    """The filesystem type holding ``path`` (Linux only; the data scenario depends on it)."""
    try:
        mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown"
    resolved = str(path.resolve())
    best = ("", "unknown")
    for fields in mounts:
        mount, kind = fields[1], fields[2]
        if resolved.startswith(mount) and len(mount) > len(best[0]):
            best = (mount, kind)
    return best[1]


def _python(python: Path) -> str:
    out = subprocess.run([str(python), "-c", "import sys; print(sys.version.split()[0])"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def _git_revision(repo: Path) -> str | None:
    out = subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def describe(scratch: Path, cairn_python: Path) -> dict[str, Any]:
    memory = psutil.virtual_memory().total
    return {
        "cpu": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "ram_gib": round(memory / 2**30, 1),
        "os": platform.platform(),
        "python": _python(cairn_python),
        "scratch": str(scratch),
        "scratch_filesystem": _filesystem(scratch),
    }


def cairn_version(repo: Path) -> dict[str, str | None]:
    try:
        version: str | None = metadata.version("cairn")
    except metadata.PackageNotFoundError:
        version = None
    return {"cairn": version, "cairn_git": _git_revision(repo)}
