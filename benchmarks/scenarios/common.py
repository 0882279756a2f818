"""Helpers the scenarios share: fresh stores for each tool, figure shorthands."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from benchmarks.harness import Context, Figure
from benchmarks.procs import Tool, run_probe

_counter = itertools.count(1)


def fresh(ctx: Context, prefix: str) -> Path:
    """A new, empty folder under the session's scratch folder."""
    return ctx.folder(f"{prefix}-{next(_counter)}")


def cairn_store(ctx: Context, prefix: str) -> tuple[Path, dict[str, str]]:
    """A working folder and the environment pointing cairn at a new store inside it."""
    cwd = fresh(ctx, prefix)
    return cwd, {"CAIRN_DIR": str(cwd / ".cairn")}


def prepare_cairn_store(ctx: Context, tool: Tool, cwd: Path, env: dict[str, str]) -> None:
    """Create the store with one run, so the measured work does not pay its creation."""
    run_probe(tool, "cairn_probe", "prepare", {}, cwd=cwd, env=env, timeout=ctx.timeout)


def mlflow_store(ctx: Context, prefix: str) -> tuple[Path, dict[str, str]]:
    """A working folder holding a copy of an empty MLflow database made once per session.

    MLflow creates its tables through ~2 s of migrations on first use; cairn's store is made
    before timing too, so neither side pays store creation inside a measurement.
    """
    template = ctx.scratch / "mlflow-template" / "mlflow.db"
    if not template.exists():
        template.parent.mkdir(exist_ok=True)
        env = {"MLFLOW_TRACKING_URI": f"sqlite:///{template}"}
        run_probe(ctx.mlflow, "mlflow_probe", "template", {}, cwd=template.parent, env=env,
                  timeout=ctx.timeout)
    cwd = fresh(ctx, prefix)
    shutil.copyfile(template, cwd / "mlflow.db")
    return cwd, {"MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}


def seconds(key: str, label: str, *, compare: bool = True) -> Figure:
    return Figure(key, label, "s", compare=compare)


def rate(key: str, label: str, what: str) -> Figure:
    return Figure(key, label, "/s", higher_is_better=True, what=what)


def count(key: str, label: str) -> Figure:
    return Figure(key, label, "count", compare=False)
