"""Building the environment a run is replayed in: a cached ``uv`` venv, or cairn's own.

``venv`` builds a virtual environment with ``uv`` (from the ``uv`` package, which ships its
binary) and installs exactly the recorded packages, without resolving anything: the record
is the complete set that ran. Python builds are never downloaded; when the recorded version
is not on this machine the closest one is used and the result says so. Packages that cannot
be installed (gone from the index, a local folder that does not exist here) are reported,
not fatal. The running cairn is always installed too, so scripts that use the SDK work.

Builds are cached under ``$XDG_CACHE_HOME/cairn/envs/<key>``, the key being a hash of the
Python version, the sorted requirements and the cairn install. A build holds a file lock, and
only a build that finished writes its marker file, so a crash or a concurrent ``repro``
never leaves a half-built environment that is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, MissingExtra
from cairn.reproduce.packages import SELF, Requirement, requirements
from cairn.settings import user_cache_dir
from cairn.store.record_parts import Environment

MARKER = "cairn-env.json"
CACHE_FORMAT = 1
_UV_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class PythonChoice:
    """The interpreter an environment is built on, against the one recorded."""

    path: str
    version: str
    recorded: str | None

    @property
    def exact(self) -> bool:
        return self.recorded is None or self.version == self.recorded

    @property
    def note(self) -> str | None:
        if self.exact:
            return None
        return (f"Python {self.recorded} is not available here; "
                f"Python {self.version} was used instead")


@dataclass(frozen=True)
class BuiltEnv:
    """An environment ready to run the command in."""

    mode: str  # "current", "venv" or "docker"
    python: str  # the interpreter to run Python commands with
    bin_dir: Path | None  # put first on PATH
    prefix: Path | None  # the venv (VIRTUAL_ENV), when one was built
    python_version: str
    recorded_python: str | None
    cached: bool = False
    seconds: float = 0.0
    source: str = "the recorded packages"
    not_rebuildable: tuple[tuple[str, str], ...] = ()  # (requirement, why)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def python_note(self) -> str | None:
        return PythonChoice(self.python, self.python_version, self.recorded_python).note


# -- finding things ---------------------------------------------------------------------------
def uv_binary() -> str:
    """The ``uv`` executable shipped by the ``uv`` package (``pip install 'cairn[repro]'``)."""
    try:
        from uv import find_uv_bin
    except ImportError as exc:
        raise MissingExtra("uv", "repro") from exc
    try:
        return str(find_uv_bin())
    except FileNotFoundError as exc:
        raise MissingExtra("uv", "repro") from exc


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def _uv_env() -> dict[str, str]:
    env = dict(os.environ, UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX", "UV_PROJECT_ENVIRONMENT"):
        env.pop(name, None)
    return env


def run_uv(
    uv: str, *args: str, timeout: float = _UV_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    # From "/": no project or uv.toml of the user's working folder changes what uv does.
    return subprocess.run(
        [uv, *args], cwd=os.sep, env=_uv_env(), capture_output=True, text=True,
        timeout=timeout, check=False, stdin=subprocess.DEVNULL,
    )


def _installed_pythons(uv: str) -> list[tuple[str, str]]:
    """``(version, path)`` of the CPython interpreters uv finds here, without downloading."""
    found: list[tuple[str, str]] = []
    done = run_uv(uv, "python", "list", "--only-installed", "--output-format", "json",
               timeout=120)
    if done.returncode == 0:
        try:
            for item in json.loads(done.stdout):
                if item.get("implementation", "cpython") == "cpython" and item.get("path"):
                    found.append((str(item["version"]), str(item["path"])))
        except (ValueError, AttributeError, TypeError):
            pass
    current = sys.version.split()[0]
    if sys.implementation.name == "cpython":
        found.append((current, sys.executable))
    return found


def choose_python(uv: str, recorded: str | None) -> PythonChoice:
    """The recorded version if this machine has it, else the closest one it has."""
    current = sys.version.split()[0]
    if not recorded or not _version_tuple(recorded):
        return PythonChoice(sys.executable, current, recorded or None)
    if recorded == current and sys.implementation.name == "cpython":
        return PythonChoice(sys.executable, current, recorded)
    found = run_uv(uv, "python", "find", "--system", recorded, timeout=120)
    if found.returncode == 0 and found.stdout.strip():
        return PythonChoice(found.stdout.strip().splitlines()[-1], recorded, recorded)
    # Listing every interpreter takes seconds (each one is asked its version): last resort.
    pythons = [(v, p) for v, p in _installed_pythons(uv) if _version_tuple(v)]
    want = _version_tuple(recorded)
    for version, path in pythons:
        if _version_tuple(version) == want:
            return PythonChoice(path, version, recorded)
    w = (*want, 0, 0)

    def distance(item: tuple[str, str]) -> tuple[int, int, int, int]:
        """Same major first, then the nearest minor (newer on a tie), then nearest patch."""
        h = (*_version_tuple(item[0]), 0, 0)
        return (abs(h[0] - w[0]), abs(h[1] - w[1]), 0 if h[1] >= w[1] else 1, abs(h[2] - w[2]))

    version, path = min(pythons, key=distance)
    return PythonChoice(path, version, recorded)


def cairn_install_args() -> list[str]:
    """How to install the running cairn: from its source folder when installed from one."""
    import importlib.metadata as md

    try:
        dist = md.distribution(SELF)
    except md.PackageNotFoundError:
        return []
    text = dist.read_text("direct_url.json")
    if text:
        try:
            direct = json.loads(text)
        except ValueError:
            direct = {}
        url = str(direct.get("url", ""))
        if url.startswith("file://"):
            from urllib.parse import unquote, urlparse

            path = unquote(urlparse(url).path)
            if os.path.exists(path):
                editable = bool((direct.get("dir_info") or {}).get("editable"))
                return ["-e", path] if editable else [path]
    return [f"{SELF}=={dist.version}"]


# -- building ---------------------------------------------------------------------------------
def env_key(python: PythonChoice, reqs: Sequence[Requirement], cairn_args: Sequence[str]) -> str:
    doc = {
        "format": CACHE_FORMAT,
        "python": python.version,
        "requirements": sorted(r.line for r in reqs),
        "cairn": list(cairn_args),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:24]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not (folder / "bin" / "python").exists():
        return None
    return doc


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"


def _install_exact(uv: str, python: str, reqs: Sequence[Requirement]) -> list[tuple[str, str]]:
    """Install ``reqs`` without resolving; return those that failed, with uv's reason."""
    failed: list[tuple[str, str]] = []
    todo: list[Requirement] = []
    for req in reqs:
        if req.rebuildable_here:
            todo.append(req)
        else:
            failed.append((req.line, f"{req.local_path} does not exist on this machine"))
    if not todo:
        return failed
    args = ["pip", "install", "--python", python, "--no-deps"]
    done = run_uv(uv, *args, *[a for r in todo for a in r.args])
    if done.returncode == 0:
        return failed
    for req in todo:  # one failure fails the batch: find out which ones it was
        one = run_uv(uv, *args, *req.args)
        if one.returncode != 0:
            failed.append((req.line, _last_line(one.stderr)))
    return failed


def build_venv(env: Environment | None, *, reqs: Sequence[Requirement] | None = None,
               source: str = "the recorded packages") -> BuiltEnv:
    """A venv holding ``env``'s packages (or ``reqs``) and the running cairn; cached."""
    started = time.monotonic()
    uv = uv_binary()
    python = choose_python(uv, env.python_version if env else None)
    if reqs is None:
        reqs = requirements(env.packages, env.direct_urls, skip=frozenset({SELF})) if env else []
    cairn_args = cairn_install_args()
    key = env_key(python, reqs, cairn_args)
    folder = user_cache_dir() / "envs" / key
    with _locked(folder.with_name(key + ".lock")):
        marker = _read_marker(folder)
        cached = marker is not None
        if marker is None:
            marker = _build(uv, python, reqs, cairn_args, folder, source)
    return BuiltEnv(
        mode="venv", python=str(folder / "bin" / "python"), bin_dir=folder / "bin",
        prefix=folder, python_version=python.version, recorded_python=python.recorded,
        cached=cached, seconds=time.monotonic() - started, source=source,
        not_rebuildable=tuple((str(a), str(b)) for a, b in marker.get("not_rebuildable", [])),
    )


def _build(uv: str, python: PythonChoice, reqs: Sequence[Requirement],
           cairn_args: Sequence[str], folder: Path, source: str) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)  # an unfinished build of the same key
    started = time.monotonic()
    try:
        done = run_uv(uv, "venv", "--quiet", "--python", python.path, str(folder))
        if done.returncode != 0:
            raise CairnError(f"uv could not create a venv with Python {python.version}: "
                             f"{_last_line(done.stderr)}")
        venv_python = str(folder / "bin" / "python")
        failed = _install_exact(uv, venv_python, reqs)
        if cairn_args:
            done = run_uv(uv, "pip", "install", "--python", venv_python, *cairn_args)
            if done.returncode != 0:
                raise CairnError(f"uv could not install cairn into the rebuilt environment: "
                                 f"{_last_line(done.stderr)}")
        marker = {
            "format": CACHE_FORMAT, "python": python.version, "python_path": python.path,
            "recorded_python": python.recorded, "source": source,
            "requirements": [r.line for r in reqs], "not_rebuildable": failed,
            "build_seconds": round(time.monotonic() - started, 3),
        }
        (folder / MARKER).write_text(json.dumps(marker, indent=1))
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return marker


def current_env(env: Environment | None) -> BuiltEnv:
    """The interpreter cairn runs in, as it is."""
    return BuiltEnv(
        mode="current", python=sys.executable, bin_dir=Path(sys.executable).parent,
        prefix=Path(sys.prefix) if sys.prefix != sys.base_prefix else None,
        python_version=sys.version.split()[0],
        recorded_python=env.python_version if env else None,
    )


def installed_packages(python: str) -> dict[str, str]:
    """What ``python`` has installed (one short subprocess)."""
    from cairn.capture.environment import capture_environment_of

    found = capture_environment_of(python)
    return dict(found.packages) if found is not None else {}


def package_mismatches(recorded: Mapping[str, str], used: Mapping[str, str]
                       ) -> list[dict[str, str | None]]:
    """Recorded packages that are missing or at another version in the environment used."""
    return [
        {"name": name, "recorded": version, "used": used.get(name)}
        for name, version in sorted(recorded.items())
        if used.get(name) != version
    ]
