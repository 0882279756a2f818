"""Replaying a run in a container, where a Docker engine is reachable.

The image is the exported Dockerfile (the run's Python, its exact packages) plus cairn's
own dependencies. The checkout, cairn's store and cairn's source are mounted at the same
paths as on the host, and the cairn variables of the tracked run are passed through, so the
SDK inside the container writes to the same run and declared outputs land in the checkout.
The container is started by a small launcher script, so that the tracked command is that
script rather than ``docker`` and its options (which would otherwise be read as params).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from cairn.errors import CairnError, NotFound
from cairn.reproduce.export import container_argv, dockerfile
from cairn.reproduce.plan import ReproPlan
from cairn.settings import Env, Internal

LAUNCHER = ".cairn-docker-run.sh"
PASSED_THROUGH = (Internal.RUN_ID, Env.DIR, Internal.BOOT_OUT, "PYTHONHASHSEED",
                  "PYTHONUNBUFFERED", "PYTHONPATH")
_TIMEOUT_S = 15.0


def engine_problem() -> str | None:
    """Why no Docker engine can be used here, or None when one answers."""
    exe = shutil.which("docker")
    if exe is None:
        return "docker is not installed"
    try:
        done = subprocess.run([exe, "version", "--format", "{{.Server.Version}}"],
                              capture_output=True, text=True, timeout=_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"docker did not answer ({exc})"
    if done.returncode != 0 or not done.stdout.strip():
        lines = (done.stderr or "").strip().splitlines()
        return "no Docker engine is reachable" + (f" ({lines[-1]})" if lines else "")
    return None


def _cairn_requirements() -> list[str]:
    """cairn's own runtime dependencies, so that its SDK imports inside the image."""
    import importlib.metadata as md

    try:
        requires = md.requires("cairn") or []
    except md.PackageNotFoundError:
        return []
    return [r.split(";", 1)[0].strip() for r in requires if "extra ==" not in r]


def _cairn_package() -> Path:
    import cairn

    return Path(cairn.__file__).resolve().parent


#: Where cairn's package folder is mounted in the container (read-only, on PYTHONPATH).
CONTAINER_CAIRN = "/opt/cairn"


def write_dockerfile(plan: ReproPlan, folder: Path) -> Path:
    path = folder / "Dockerfile"
    path.write_text(dockerfile(plan, extra=_cairn_requirements()).text)
    return path


def build_image(folder: Path, tag: str) -> None:
    problem = engine_problem()
    if problem is not None:
        raise NotFound(f"{problem}, so the run cannot be replayed in a container",
                       hint=f"the Dockerfile is in {folder}; or use --env venv")
    done = subprocess.run(["docker", "build", "-t", tag, str(folder)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise CairnError("docker could not build the image: " + " / ".join(tail))


def write_launcher(folder: Path, tag: str, argv: Sequence[str], cwd: Path, store_dir: Path,
                   env_vars: Mapping[str, str]) -> Path:
    """A script that runs ``argv`` in the image with the checkout and store mounted."""
    from cairn.runner.track import BOOTSTRAP_DIR

    mounts = [
        (folder, folder, ""), (store_dir, store_dir, ""), (BOOTSTRAP_DIR, BOOTSTRAP_DIR, ":ro"),
        (_cairn_package(), Path(CONTAINER_CAIRN) / "cairn", ":ro"),
    ]
    words = ["docker", "run", "--rm", "-i", "--user", f"{os.getuid()}:{os.getgid()}"]
    for host, inside, flags in mounts:
        words += ["-v", f"{host}:{inside}{flags}"]
    for name in PASSED_THROUGH:
        words += ["-e", name]
    for name, value in sorted(env_vars.items()):
        words += ["-e", f"{name}={value}"]
    words += ["-e", "HOME=/tmp", "-w", str(cwd), tag, *container_argv(argv)]
    script = folder / LAUNCHER
    # cairn's package goes after the bootstrap on the container's PYTHONPATH.
    script.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH=\"${{PYTHONPATH}}:{CONTAINER_CAIRN}\"\nexport PYTHONPATH\n"
        f"exec {shlex.join(words)}\n"
    )
    script.chmod(0o755)
    return script
