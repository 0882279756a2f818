"""The verdict of a reproduction as one JSON-ready dict (``repro --json``, the run record).

Reads both runs back from the store, compares them (``verify``), adds the likely causes of a
divergence (``hints``) and, for a command that failed, the tail of its output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cairn.history.logs import log_bytes
from cairn.objects.base import ObjectStore
from cairn.project import Project
from cairn.reproduce.checkout import CheckoutResult
from cairn.reproduce.envbuild import BuiltEnv
from cairn.reproduce.hints import determinism_hints
from cairn.reproduce.plan import ReproPlan
from cairn.reproduce.textdiff import OutputComparison, clean_lines, compare_output
from cairn.reproduce.verify import (
    FAILED,
    SYSTEM_PREFIX,
    Comparison,
    Tolerance,
    compare_metrics,
    compare_outputs,
    compare_params,
    decide,
    load_series_pairs,
)
from cairn.store import runs as run_store
from cairn.store.artifacts import list_artifacts
from cairn.store.core import MetaStore
from cairn.store.metrics import latest_metrics

LOG_TAIL_LINES = 20


def _text(data: bytes | None) -> str:
    return data.decode("utf-8", errors="replace") if data else ""


def compare_runs(
    project: Project, store: MetaStore, objects: ObjectStore, original: run_store.RunRow,
    reproduced: run_store.RunRow, tol: Tolerance,
    path_replacements: Sequence[tuple[str, str]] = (),
) -> Comparison:
    """Params, metrics (and their series), outputs, and printed output when no metrics."""
    params = run_store.get_params(store, [original.id, reproduced.id])
    latest = latest_metrics(store, [original.id, reproduced.id])
    keys = sorted(k for k in set(latest[original.id]) | set(latest[reproduced.id])
                  if not k.startswith(SYSTEM_PREFIX))
    series = load_series_pairs(store, original.id, reproduced.id, keys)
    metrics = compare_metrics(latest[original.id], latest[reproduced.id], tol, series)
    outputs = compare_outputs(objects, list_artifacts(store, original.id, "output"),
                              list_artifacts(store, reproduced.id, "output"))
    stdout: OutputComparison | None = None
    if not any(not k.startswith(SYSTEM_PREFIX) for k in latest[original.id]):
        stdout = compare_output(
            _text(log_bytes(project, store, original)),
            _text(log_bytes(project, store, reproduced)),
            rtol=tol.rtol, atol=tol.atol, replace=path_replacements,
        )
    return Comparison(
        params=tuple(compare_params(params[original.id], params[reproduced.id], tol)),
        metrics=tuple(metrics), outputs=tuple(outputs), stdout=stdout, tolerance=tol,
    )


def build_report(
    project: Project, store: MetaStore, objects: ObjectStore, plan: ReproPlan,
    new: run_store.RunRow, built: BuiltEnv, co: CheckoutResult, tol: Tolerance,
    mismatches: list[dict[str, str | None]], notes: list[str],
) -> dict[str, Any]:
    original = plan.run
    replacements: list[tuple[str, str]] = []
    if plan.code is not None and plan.code.root:
        for path in {str(co.dir.resolve()), str(co.dir)}:
            replacements.append((path, plan.code.root))
    comparison = compare_runs(project, store, objects, original, new, tol, replacements)
    verdict = decide(original, new, comparison)
    python_used = (new.record.env.python_version if new.record.env else "") or \
        built.python_version
    report: dict[str, Any] = {
        "verdict": verdict,
        "original": {"id": original.id, "number": original.number},
        "reproduction": {"id": new.id, "number": new.number, "status": new.status,
                         "exit_code": new.exit_code, "dir": str(co.base)},
        "environment": {
            "mode": built.mode,
            "python": {"recorded": built.recorded_python, "used": python_used,
                       "note": built.python_note},
            "package_mismatches": mismatches,
            "not_rebuildable": [{"requirement": r, "reason": why}
                                for r, why in built.not_rebuildable],
            "source": built.source,
            "cached": built.cached,
            "build_seconds": round(built.seconds, 3),
        },
        "tolerance": {"rtol": tol.rtol, "atol": tol.atol},
        "params_identical": comparison.params_identical,
        "params": [p.to_json() for p in comparison.params],
        "metrics": [m.to_json() for m in comparison.metrics],
        "outputs": [o.to_json() for o in comparison.outputs],
        "stdout": comparison.stdout.to_json() if comparison.stdout else None,
        "hints": [],
        "notes": list(notes),
        "log_tail": [],
    }
    if verdict != "REPRODUCED":
        report["hints"] = determinism_hints(
            params=run_store.get_params(store, [original.id])[original.id],
            original_record=original.record, reproduced_record=new.record,
            package_mismatches=mismatches, python_recorded=built.recorded_python,
            python_used=python_used,
        )
    if verdict == FAILED:
        report["log_tail"] = clean_lines(_text(log_bytes(project, store, new)))[-LOG_TAIL_LINES:]
    return report
