"""Requirements from a recorded ``uv.lock``, preferred over the package list when present.

A lock file carries what the project meant to install (hashes, indexes, VCS commits), so a
rebuild from it is the one the project itself would make. ``uv export --frozen`` turns the
recorded ``uv.lock`` and ``pyproject.toml`` into pinned requirements without resolving or
touching the network. Any failure falls back to the recorded package list.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from cairn.objects.base import ObjectStore
from cairn.reproduce.packages import SELF, Requirement
from cairn.store.record_parts import Environment

LOCK_NAME = "uv.lock"
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_exported(text: str) -> list[Requirement]:
    """Requirements from ``uv export --format requirements-txt`` output."""
    reqs: list[Requirement] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        m = _NAME.match(line)
        if m is None:
            continue
        name = _normalize(m.group(1))
        if name == SELF:
            continue
        version = ""
        pin = re.match(r"^[^=;@ ]+==([^;\s]+)", line)
        if pin:
            version = pin.group(1)
        source = "index" if pin else "vcs" if "+" in line.split("@", 1)[-1][:6] else "archive"
        reqs.append(Requirement(name, version, line, (line,), source))
    return reqs


def requirements_from_lock(
    uv: str, objects: ObjectStore, env: Environment | None
) -> list[Requirement] | None:
    """Pinned requirements from the run's recorded ``uv.lock``, or None when there is none
    (or it cannot be exported)."""
    from cairn.reproduce.envbuild import run_uv

    if env is None:
        return None
    files = {lf.path: lf.oid for lf in env.lock_files}
    if LOCK_NAME not in files or "pyproject.toml" not in files:
        return None
    with tempfile.TemporaryDirectory(prefix="cairn-lock-") as scratch:
        try:
            for name in (LOCK_NAME, "pyproject.toml"):
                (Path(scratch) / name).write_bytes(objects.get_bytes(files[name]))
        except Exception:
            return None
        done = run_uv(
            uv, "export", "--project", scratch, "--frozen", "--no-hashes", "--no-emit-project",
            "--no-header", "--no-annotate", "--format", "requirements-txt", timeout=120,
        )
    if done.returncode != 0:
        return None
    return parse_exported(done.stdout)
