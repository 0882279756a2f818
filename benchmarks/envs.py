"""The anchors' virtual environments: created once under ``benchmarks/.envs/``, then reused.

Each anchor gets its own venv so that its dependencies never mix with cairn's. A venv counts
as ready when its marker file lists exactly the requirements below; changing them here makes
the next run upgrade it in place. The marker also keeps how long the first creation took, so
that the report can say it.
"""

from __future__ import annotations

import json
import subprocess
import time
import venv
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from benchmarks.procs import Tool, base_env

ENVS = Path(__file__).resolve().parent / ".envs"
MARKER = "bench-env.json"


@dataclass(frozen=True)
class Anchor:
    name: str
    requirements: tuple[str, ...]
    packages: tuple[str, ...]  # whose versions go into the report


ANCHORS = {
    "mlflow": Anchor("mlflow", ("mlflow>=3.0", "scikit-learn>=1.4"), ("mlflow", "scikit-learn")),
    "dvc": Anchor("dvc", ("dvc>=3.50",), ("dvc",)),
}


@dataclass(frozen=True)
class AnchorEnv:
    tool: Tool
    versions: dict[str, str]
    created_s: float | None  # how long the first creation took, when known
    reused: bool


def _pip(python: Path, *args: str) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=base_env(), check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stdout.decode(errors="replace").splitlines()
                 if not line.startswith("WARNING: Location")]
        raise RuntimeError("pip install failed: " + " | ".join(lines[-5:]))


def versions(python: Path, packages: tuple[str, ...]) -> dict[str, str]:
    code = ("import importlib.metadata as m, json, sys; "
            "print(json.dumps({p: m.version(p) for p in sys.argv[1:]}))")
    out = subprocess.run([str(python), "-c", code, *packages], capture_output=True, check=True)
    return dict(json.loads(out.stdout))


def ensure(anchor: Anchor, console: Console) -> AnchorEnv:
    """Return the anchor's venv, creating or updating it when its marker does not match."""
    home = ENVS / anchor.name
    python = home / "bin" / "python"
    marker = home / MARKER
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        recorded = {}
    if python.exists() and recorded.get("requirements") == list(anchor.requirements):
        return AnchorEnv(Tool(anchor.name, python), versions(python, anchor.packages),
                         recorded.get("created_s"), reused=True)
    console.log(f"setting up {anchor.name} in {home} ({', '.join(anchor.requirements)}); "
                "this takes a few minutes the first time")
    start = time.perf_counter()
    existed = python.exists()
    if not existed:
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        _pip(python, "--upgrade", "pip")
    _pip(python, *anchor.requirements)
    elapsed = time.perf_counter() - start
    created = recorded.get("created_s") if existed else round(elapsed, 1)
    marker.write_text(json.dumps({"requirements": list(anchor.requirements),
                                  "created_s": created,
                                  "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}))
    console.log(f"{anchor.name} ready in {elapsed:.0f} s")
    return AnchorEnv(Tool(anchor.name, python), versions(python, anchor.packages), created,
                     reused=False)


def prepare(names: set[str], console: Console) -> dict[str, AnchorEnv | str]:
    """Each anchor's env, or the reason it could not be set up (its cases then say so)."""
    out: dict[str, AnchorEnv | str] = {}
    for name in sorted(names):
        try:
            out[name] = ensure(ANCHORS[name], console)
        except Exception as exc:
            console.log(f"[red]{name}: cannot set up its environment: {exc}[/red]")
            out[name] = f"{name} environment could not be set up: {exc}"
    return out
