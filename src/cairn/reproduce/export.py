"""A run's environment written out for other tools (``cairn env export``).

Three forms: a ``requirements.txt`` of exact pins; a Dockerfile on the matching
``python:X.Y-slim`` image that installs those pins, copies the code and runs the command;
and a ``pyproject.toml`` whose dependencies ``uv sync`` installs. Packages installed from a
local folder or file are written as they were installed, with a warning, since nothing pins
them and they exist only on the machine that recorded them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cairn.errors import InvalidInput, NotFound
from cairn.reproduce.packages import Requirement, requirements
from cairn.reproduce.plan import ReproPlan, replayed_env_vars
from cairn.store.record_parts import Environment

FORMATS = ("requirements", "dockerfile", "uv")
_PYTHON_NAME = re.compile(r"(python|pypy)(\d+(\.\d+)*)?(\.exe)?", re.IGNORECASE)


@dataclass(frozen=True)
class Export:
    text: str
    warnings: tuple[str, ...]


def _require_env(plan: ReproPlan) -> Environment:
    env = plan.environment
    if env is None:
        raise NotFound(
            f"run {plan.run.number} recorded no Python environment (its command was not a "
            "Python program), so there is nothing to export"
        )
    return env


def _minor(version: str) -> str:
    parts = re.findall(r"\d+", version)
    return ".".join(parts[:2]) if len(parts) >= 2 else version


def _warnings(reqs: Sequence[Requirement]) -> tuple[str, ...]:
    return tuple(r.warning for r in reqs if r.warning)


def requirements_txt(plan: ReproPlan, reqs: Sequence[Requirement] | None = None) -> Export:
    env = _require_env(plan)
    reqs = list(reqs) if reqs is not None else requirements(env.packages, env.direct_urls)
    lines = [
        f"# the packages of cairn run {plan.run.number} (Python {env.python_version}, "
        f"{env.platform or 'unknown platform'})",
    ]
    for req in reqs:
        if req.warning:
            lines.append(f"# warning: {req.warning}")
        lines.append(req.line)
    return Export("\n".join(lines) + "\n", _warnings(reqs))


def container_argv(argv: Sequence[str]) -> list[str]:
    """The command as it runs in an image: a recorded interpreter path becomes ``python``."""
    out = list(argv)
    if out and (os.sep in out[0]) and _PYTHON_NAME.fullmatch(os.path.basename(out[0])):
        out[0] = "python"
    return out


def dockerfile(plan: ReproPlan, *, extra: Sequence[str] = (),
               env_vars: Mapping[str, str] | None = None) -> Export:
    """A Dockerfile for the build context of a checkout (``cairn checkout`` makes one).

    The pins are installed as recorded, without resolving (the record is complete);
    ``extra`` requirements, when given, are resolved against them.
    """
    env = _require_env(plan)
    reqs = requirements(env.packages, env.direct_urls)
    installable = [r for r in reqs if r.local_path is None]
    warnings = list(_warnings(reqs))
    left_out = [r for r in reqs if r.local_path is not None]
    lines = [
        f"# cairn run {plan.run.number}: its code, exact packages and command",
        "# build from a checkout of the run:  cairn checkout "
        f"{plan.run.number} --dir ctx && docker build -f Dockerfile ctx",
        f"FROM python:{_minor(env.python_version)}-slim",
    ]
    if any(r.source == "vcs" for r in installable):
        lines.append("RUN apt-get update && apt-get install -y --no-install-recommends git "
                     "&& rm -rf /var/lib/apt/lists/*")
    for req in left_out:
        lines.append(f"# not installable in an image: {req.line}")
        warnings.append(f"{req.name} is left out of the image: it was installed from "
                        f"{req.local_path}")
    pins = [r.line for r in installable]
    for words, options in ((pins, "--no-deps "), (list(extra), "")):
        if words:
            body = " \\\n    ".join(shlex.quote(p) for p in words)
            lines.append(f"RUN pip install --no-cache-dir {options}\\\n    {body}")
    variables, _notes = replayed_env_vars(plan.env_vars, None, None)
    variables.pop("PYTHONPATH", None)
    variables.update(env_vars or {})
    for name, value in sorted(variables.items()):
        lines.append(f"ENV {name}={json.dumps(value)}")
    workdir = "/app" + (f"/{plan.cwd_rel}" if plan.cwd_rel else "")
    lines += ["COPY . /app", f"WORKDIR {workdir}"]
    if plan.argv:
        lines.append(f"CMD {json.dumps(container_argv(plan.argv))}")
    return Export("\n".join(lines) + "\n", tuple(warnings))


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def uv_project(plan: ReproPlan) -> Export:
    """A ``pyproject.toml`` that ``uv sync`` turns into the run's environment."""
    env = _require_env(plan)
    reqs = requirements(env.packages, env.direct_urls)
    deps = []
    sources = []
    for req in reqs:
        source = req.uv_source
        if source is None:
            deps.append(req.line)
            continue
        deps.append(req.name)
        fields = ", ".join(
            f"{k} = {json.dumps(v) if isinstance(v, bool) else _toml_str(str(v))}"
            for k, v in source.items()
        )
        sources.append(f"{req.name} = {{ {fields} }}")
    minor = _minor(env.python_version)
    lines = [
        f"# the environment of cairn run {plan.run.number} (Python {env.python_version}); "
        "install it with: uv sync",
        "[project]",
        f"name = \"cairn-run-{plan.run.number}-env\"",
        'version = "0"',
        f"requires-python = \"=={minor}.*\"",
        "dependencies = [",
        *[f"    {_toml_str(d)}," for d in deps],
        "]",
        "",
        "[tool.uv]",
        "package = false",
    ]
    if sources:
        lines += ["", "[tool.uv.sources]", *sources]
    return Export("\n".join(lines) + "\n", _warnings(reqs))


def export_environment(plan: ReproPlan, fmt: str) -> Export:
    if fmt == "requirements":
        return requirements_txt(plan)
    if fmt == "dockerfile":
        return dockerfile(plan)
    if fmt == "uv":
        return uv_project(plan)
    raise InvalidInput(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
