"""The environment of the interpreter that actually runs a command, not cairn's own.

``cairn run -- .venv/bin/python train.py`` must record ``.venv``'s packages even when cairn
is installed elsewhere. Inside a tracked Python child the bootstrap reports its own
interpreter (the same ``report_interpreter`` as here); otherwise ``capture_environment_of``
runs the command's interpreter once to ask it. The package list, the big part, is stored as
one canonical JSON object so that identical environments share it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cairn.objects.base import ObjectStore
from cairn.store.record_parts import Environment, LockFile

#: Dependency manifests and lock files recorded from the project root.
LOCK_FILE_NAMES = (
    "uv.lock",
    "poetry.lock",
    "Pipfile.lock",
    "environment.yml",
    "environment.yaml",
    "pyproject.toml",
)
LOCK_FILE_GLOBS = ("requirements*.txt",)

_PYTHON_NAME = re.compile(r"(python|pypy)(\d+(\.\d+)*)?t?(\.exe)?", re.IGNORECASE)
_REPORT_MARK = "\x1ecairn-interpreter-report\x1e"
_REPORT_TIMEOUT_S = 60.0


def normalize_name(name: str) -> str:
    """PEP 503 name: ``Scikit_Learn`` -> ``scikit-learn``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# -- which interpreter runs a command -----------------------------------------------------


def python_of_command(
    argv: Sequence[str], env: Mapping[str, str], cwd: str | os.PathLike[str] | None = None
) -> str | None:
    """The interpreter a command will run under, or None when it is not a Python command.

    Understood: ``python``, ``python3``, ``python3.11``, ``pypy3`` (found on ``env``'s
    PATH), an interpreter by path (a venv's or conda's: the path is kept, not resolved,
    since a venv's python is a symlink to its base), ``python -m …``, ``env VAR=1 python …``,
    ``uv run …`` (the project's ``.venv``), and any program whose shebang names Python
    (console scripts such as ``pytest``, or ``./train.py``).
    """
    args = list(argv)
    while args and os.path.basename(args[0]) == "env":
        args = args[1:]
        while args and ("=" in args[0] or args[0].startswith("-")):
            args = args[1:]
    if not args:
        return None
    base_dir = os.fspath(cwd) if cwd is not None else os.getcwd()
    if os.path.basename(args[0]) in ("uv", "uv.exe") and args[1:2] == ["run"]:
        return _uv_run_python(args[2:], env, base_dir)
    exe = _which(args[0], env, base_dir)
    if exe is None:
        return None
    if _PYTHON_NAME.fullmatch(os.path.basename(args[0])):
        return exe
    return _shebang_python(exe, env, base_dir)


def _which(cmd: str, env: Mapping[str, str], cwd: str) -> str | None:
    if os.sep in cmd or (os.altsep and os.altsep in cmd):
        path = os.path.normpath(os.path.join(cwd, cmd))
        return path if os.path.isfile(path) and os.access(path, os.X_OK) else None
    found = shutil.which(cmd, path=env.get("PATH", os.defpath))
    return os.path.normpath(os.path.join(cwd, found)) if found else None


def _shebang_python(exe: str, env: Mapping[str, str], cwd: str) -> str | None:
    """The Python named by a script's ``#!`` line (or pip's ``/bin/sh`` trampoline)."""
    try:
        with open(exe, "rb") as f:
            head = f.read(1024)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    lines = head.decode("utf-8", "replace").splitlines()
    words = lines[0][2:].split()
    if words and os.path.basename(words[0]) in ("sh", "bash") and len(lines) > 1:
        # pip writes this for long interpreter paths: '''exec' /long/path/python "$0" "$@"
        m = re.match(r"'''exec' (\S+)", lines[1])
        words = [m.group(1)] if m else []
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if not words:
            return None
        candidate = _which(words[0], env, cwd)
    elif words:
        candidate = words[0]
    else:
        return None
    if candidate and _PYTHON_NAME.fullmatch(os.path.basename(candidate)):
        return candidate
    return None


_UV_VALUE_OPTIONS = frozenset(
    {
        "--python", "-p", "--with", "--with-editable", "--with-requirements", "--project",
        "--directory", "--extra", "--group", "--only-group", "--no-group", "--package",
        "--env-file", "--index", "--default-index", "--index-url", "-i", "--extra-index-url",
        "--find-links", "-f", "--config-file", "--cache-dir", "--python-preference",
        "--exclude-newer", "--link-mode", "--prerelease", "--resolution", "--index-strategy",
        "--keyring-provider", "--config-setting", "-C", "--color", "--allow-insecure-host",
        "--refresh-package", "--upgrade-package", "-P", "--reinstall-package",
        "--no-binary-package", "--no-build-package", "--emit-index-url",
    }
)  # fmt: skip
_UV_NO_PROJECT = frozenset({"--with", "--with-editable", "--with-requirements", "--isolated",
                            "--no-project", "--script", "--gui-script", "--active"})  # fmt: skip


def _uv_run_python(args: list[str], env: Mapping[str, str], cwd: str) -> str | None:
    """``uv run [opts] CMD``: CMD runs in the project's environment (``.venv`` beside the
    nearest ``uv.lock``/``pyproject.toml``) unless options ask for another one."""
    project, own_env = cwd, False
    i = 0
    while i < len(args) and args[i].startswith("-"):
        opt, eq, value = args[i].partition("=")
        if opt == "--":
            i += 1
            break
        own_env = own_env or opt in _UV_NO_PROJECT
        if opt in _UV_VALUE_OPTIONS and not eq:
            value = args[i + 1] if i + 1 < len(args) else ""
            i += 1
        if opt in ("--project", "--directory") and value:
            project = os.path.join(cwd, value)
        i += 1
    command = args[i:]
    if not command:
        return None
    venv = None if own_env else _uv_project_env(Path(project), env)
    if venv is None:
        return python_of_command(command, env, cwd)
    venv_python = venv / "bin" / "python"
    if not venv_python.exists():
        return python_of_command(command, env, cwd)
    name = command[0]
    if _PYTHON_NAME.fullmatch(os.path.basename(name)) or name.endswith(".py"):
        return str(venv_python)
    in_venv = venv / "bin" / name
    if in_venv.is_file() and _shebang_python(str(in_venv), env, cwd):
        return str(venv_python)
    return python_of_command(command, env, cwd)


def _uv_project_env(start: Path, env: Mapping[str, str]) -> Path | None:
    folders = (start, *start.parents)
    root = next((f for f in folders if (f / "uv.lock").is_file()), None) or next(
        (f for f in folders if (f / "pyproject.toml").is_file()), None
    )
    if root is None:
        return None
    return root / env.get("UV_PROJECT_ENVIRONMENT", ".venv")


# -- what is installed in it ----------------------------------------------------------------


def capture_environment_of(
    python_exe: str, *, env: Mapping[str, str] | None = None, timeout: float = _REPORT_TIMEOUT_S
) -> Environment | None:
    """Ask ``python_exe`` to describe itself (one short subprocess); None if it cannot.

    With ``env=None`` the interpreter starts with ``-E`` (no ``PYTHONPATH`` or other
    ``PYTHON*`` variables): what is installed in it. With ``env`` it sees what the command
    would see.
    """
    import inspect  # only here: costly, and only needed to send the report's source

    code = (
        "from __future__ import annotations\n"
        + inspect.getsource(report_interpreter)
        + "\nimport json, sys\n"
        + f"sys.stdout.write({_REPORT_MARK!r} + "
        + "json.dumps(report_interpreter([p for p in sys.path if p])))\n"
    )
    args = [python_exe, "-c", code] if env is not None else [python_exe, "-E", "-c", code]
    try:
        done = subprocess.run(
            args, capture_output=True, timeout=timeout, check=False, cwd=os.sep,
            stdin=subprocess.DEVNULL, env=None if env is None else dict(env),
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout.decode("utf-8", "replace")
    if done.returncode != 0 or _REPORT_MARK not in out:
        return None
    try:
        report = json.loads(out.rsplit(_REPORT_MARK, 1)[1])
    except ValueError:
        return None
    return environment_from_report(report) if isinstance(report, dict) else None


def environment_from_report(
    report: Mapping[str, Any], lock_files: Iterable[tuple[str, str]] = ()
) -> Environment:
    """Build the record from ``report_interpreter()``'s dict (as the bootstrap writes it)."""
    direct: dict[str, dict[str, Any]] = {}
    for name, raw in (report.get("direct_urls") or {}).items():
        try:
            parsed = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if isinstance(parsed, dict):
            direct[normalize_name(name)] = parsed
    packages = report.get("packages") or {}
    return Environment(
        python_version=str(report.get("version", "")),
        implementation=str(report.get("implementation", "")),
        executable=str(report.get("executable", "")),
        prefix=str(report.get("prefix", "")),
        base_prefix=str(report.get("base_prefix", "")),
        platform=str(report.get("platform", "")),
        packages={normalize_name(k): str(v) for k, v in sorted(packages.items())},
        direct_urls=dict(sorted(direct.items())),
        lock_files=tuple(LockFile(path, oid) for path, oid in lock_files),
    )


def lock_files(root: Path, store: ObjectStore) -> list[tuple[str, str]]:
    """Store the lock files and dependency manifests found in ``root``: ``(name, oid)``."""
    root = Path(root)
    names = set(LOCK_FILE_NAMES)
    for pattern in LOCK_FILE_GLOBS:
        names.update(p.name for p in root.glob(pattern))
    found = []
    for name in sorted(names):
        path = root / name
        if path.is_file():
            try:
                found.append((name, store.put_file(path)))
            except OSError:
                continue  # unreadable: leave it out rather than fail the run
    return found


def store_packages(environment: Environment, store: ObjectStore) -> Environment:
    """Store the package list as one object; the copy returned carries its oid."""
    return environment.with_packages_oid(store.put_bytes(environment.packages_bytes()))


def load_packages(store: ObjectStore, oid: str) -> tuple[dict[str, str], dict[str, Any]]:
    """``(packages, direct_urls)`` of a package list stored by ``store_packages``."""
    doc = json.loads(store.get_bytes(oid))
    return dict(doc.get("packages", {})), dict(doc.get("direct_urls", {}))


# The function below is kept identical to the bootstrap's copy in
# cairn/runner/bootstrap/_cairn_boot.py (a test compares the two): a child without cairn runs
# that copy, and capture_environment_of sends this one's source to other interpreters.


def report_interpreter(path: list[str] | None = None) -> dict[str, Any]:
    """Describe the running interpreter and every distribution importable from ``path``.

    Stdlib only and fast: distributions are found where ``importlib.metadata`` finds them
    (``*.dist-info``, ``*.egg-info`` and ``*.egg`` entries of each folder on the path; the
    first of a name wins, as for imports), but a wheel's version is read from its
    ``.dist-info`` folder name, so hundreds of METADATA files need not be parsed. Names are
    normalised (PEP 503). ``direct_urls`` holds the raw text of each ``direct_url.json``
    (installs from a local folder, an archive URL or a VCS).
    """
    import os
    import sys

    def normalize(name: str) -> str:
        key = name.lower().replace("_", "-").replace(".", "-")
        while "--" in key:
            key = key.replace("--", "-")
        return key

    def headers(meta: str) -> tuple[str, str]:
        name = version = ""
        try:
            with open(meta, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        break
                    if not name and line.startswith("Name:"):
                        name = line[5:].strip()
                    elif not version and line.startswith("Version:"):
                        version = line[8:].strip()
        except OSError:
            pass
        return name, version

    packages: dict[str, str] = {}
    direct_urls: dict[str, str] = {}
    for entry in sys.path if path is None else path:
        folder = entry or os.curdir
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for fn in names:
            full = os.path.join(folder, fn)
            wheel = fn.endswith(".dist-info")
            if wheel:
                meta = os.path.join(full, "METADATA")
            elif fn.endswith(".egg-info"):
                meta = full if os.path.isfile(full) else os.path.join(full, "PKG-INFO")
            elif fn.endswith(".egg"):
                meta = os.path.join(full, "EGG-INFO", "PKG-INFO")
            else:
                continue
            name, _, version = fn.rpartition(".")[0].partition("-")
            if not (wheel and version[:1].isdigit() and "-" not in version):
                name, version = headers(meta)
                if not name:
                    continue
            key = normalize(name)
            if key in packages:
                continue
            packages[key] = version
            if wheel:
                try:
                    with open(os.path.join(full, "direct_url.json"), encoding="utf-8") as f:
                        direct_urls[key] = f.read()
                except OSError:
                    pass
    impl = sys.implementation.name
    machine = os.uname().machine if hasattr(os, "uname") else ""
    return {
        "executable": sys.executable,
        "version": sys.version.split()[0],
        "implementation": {"cpython": "CPython", "pypy": "PyPy"}.get(impl, impl),
        "platform": sys.platform + "-" + machine if machine else sys.platform,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "packages": packages,
        "direct_urls": direct_urls,
    }
