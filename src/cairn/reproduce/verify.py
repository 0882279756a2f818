"""The verdict: does the rebuilt run give the same results as the original?

Compared: params; every final metric, and each metric's whole series when both runs logged
more than one point; every declared output file by hash, down to the files inside folders;
and, when the original logged no metrics, the printed output (see ``textdiff``). System
metrics (``sys/*``) are measurements of the machine, not results, and are left out.

Tolerances (``DEFAULT_RTOL``, ``DEFAULT_ATOL``): two floats agree when
``|a - b| <= max(rtol * max(|a|, |b|), atol)`` (``math.isclose``); two whole numbers must be
equal; NaN agrees with NaN and an infinity with the same infinity.

Verdicts: ``FAILED`` when the rebuilt command did not finish (unless the original failed
the same way), ``DIVERGED`` when anything compared differs, ``REPRODUCED`` otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn.history.diff import artifact_files
from cairn.objects.base import ObjectStore
from cairn.reproduce.textdiff import OutputComparison
from cairn.store import runs as run_store
from cairn.store.artifacts import ArtifactRow
from cairn.store.series import Series

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 1e-9
SYSTEM_PREFIX = "sys/"

REPRODUCED = "REPRODUCED"
DIVERGED = "DIVERGED"
FAILED = "FAILED"


@dataclass(frozen=True)
class Tolerance:
    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL

    def close(self, a: float | None, b: float | None) -> bool:
        if a is None or b is None:
            return a is None and b is None
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b):
            return a == b
        if float(a).is_integer() and float(b).is_integer():
            return a == b
        return math.isclose(a, b, rel_tol=self.rtol, abs_tol=self.atol)


def _diffs(a: float | None, b: float | None) -> tuple[float | None, float | None]:
    if a is None or b is None or math.isnan(a) or math.isnan(b):
        return None, None
    if math.isinf(a) or math.isinf(b):
        return (0.0, 0.0) if a == b else (math.inf, math.inf)
    absolute = abs(b - a)
    scale = max(abs(a), abs(b))
    return absolute, (absolute / scale if scale else 0.0)


@dataclass(frozen=True)
class SeriesCheck:
    points_original: int
    points_reproduced: int
    max_abs_diff: float | None
    first_step_differing: int | None
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "points_original": self.points_original,
            "points_reproduced": self.points_reproduced,
            "max_abs_diff": self.max_abs_diff,
            "first_step_differing": self.first_step_differing,
            "ok": self.ok,
        }


@dataclass(frozen=True)
class MetricCheck:
    key: str
    original: float | None
    reproduced: float | None
    abs_diff: float | None
    rel_diff: float | None
    ok: bool
    series: SeriesCheck | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "original": self.original,
            "reproduced": self.reproduced,
            "abs_diff": self.abs_diff,
            "rel_diff": self.rel_diff,
            "ok": self.ok,
            "series": self.series.to_json() if self.series else None,
        }


@dataclass(frozen=True)
class OutputCheck:
    path: str
    original_oid: str | None
    reproduced_oid: str | None

    @property
    def identical(self) -> bool:
        return self.original_oid is not None and self.original_oid == self.reproduced_oid

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "original_oid": self.original_oid,
            "reproduced_oid": self.reproduced_oid,
            "identical": self.identical,
        }


@dataclass(frozen=True)
class ParamCheck:
    key: str
    original: Any
    reproduced: Any

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "original": self.original, "reproduced": self.reproduced}


@dataclass(frozen=True)
class Comparison:
    """Everything compared between the original run and its reproduction."""

    params: tuple[ParamCheck, ...]  # only those that differ
    metrics: tuple[MetricCheck, ...]
    outputs: tuple[OutputCheck, ...]
    stdout: OutputComparison | None
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def params_identical(self) -> bool:
        return not self.params

    @property
    def differs(self) -> bool:
        return (
            not self.params_identical
            or any(not m.ok for m in self.metrics)
            or any(not o.identical for o in self.outputs)
            or (self.stdout is not None and not self.stdout.identical)
        )


# -- params -----------------------------------------------------------------------------------
def compare_params(original: Mapping[str, Any], reproduced: Mapping[str, Any],
                   tol: Tolerance) -> list[ParamCheck]:
    out = []
    for key in sorted(set(original) | set(reproduced)):
        a, b = original.get(key), reproduced.get(key)
        same = a == b
        if not same and isinstance(a, (int, float)) and isinstance(b, (int, float)) \
                and not isinstance(a, bool) and not isinstance(b, bool):
            same = tol.close(float(a), float(b))
        if not same or (key in original) != (key in reproduced):
            out.append(ParamCheck(key, a, b))
    return out


# -- metrics ----------------------------------------------------------------------------------
def compare_series(a: Series, b: Series, tol: Tolerance) -> SeriesCheck:
    """Point by point, matched by step (the last point of a repeated step wins)."""
    by_step_a = dict(zip(a.steps, a.values, strict=True))
    by_step_b = dict(zip(b.steps, b.values, strict=True))
    worst: float | None = None
    first: int | None = None
    for step in sorted(set(by_step_a) | set(by_step_b)):
        x, y = by_step_a.get(step), by_step_b.get(step)
        if not tol.close(x, y) and first is None:
            first = step
        absolute, _ = _diffs(x, y)
        if absolute is not None and (worst is None or absolute > worst):
            worst = absolute
    return SeriesCheck(len(a), len(b), worst, first, first is None)


def compare_metrics(
    original: Mapping[str, float], reproduced: Mapping[str, float], tol: Tolerance,
    series: Mapping[str, tuple[Series, Series]] | None = None,
) -> list[MetricCheck]:
    checks = []
    for key in sorted(set(original) | set(reproduced)):
        if key.startswith(SYSTEM_PREFIX):
            continue
        a, b = original.get(key), reproduced.get(key)
        ok = key in original and key in reproduced and tol.close(a, b)
        absolute, relative = _diffs(a, b)
        pair = (series or {}).get(key)
        s_check = compare_series(pair[0], pair[1], tol) if pair else None
        if s_check is not None and not s_check.ok:
            ok = False
        checks.append(MetricCheck(key, a, b, absolute, relative, ok, s_check))
    return checks


def load_series_pairs(store: Any, original_id: str, reproduced_id: str,
                      keys: Sequence[str]) -> dict[str, tuple[Series, Series]]:
    """Both runs' series for ``keys`` that have more than one point in both runs."""
    from cairn.store.metrics import point_counts, read_series

    counts_a = point_counts(store, original_id)
    counts_b = point_counts(store, reproduced_id)
    return {
        key: (read_series(store, original_id, key), read_series(store, reproduced_id, key))
        for key in keys
        if counts_a.get(key, 0) > 1 and counts_b.get(key, 0) > 1
    }


# -- outputs ----------------------------------------------------------------------------------
def compare_outputs(objects: ObjectStore | None, original: Sequence[ArtifactRow],
                    reproduced: Sequence[ArtifactRow]) -> list[OutputCheck]:
    """One row per declared output; a folder that differs is broken down to its files."""
    by_b = {x.path: x for x in reproduced}
    out: list[OutputCheck] = []
    for art in sorted(original, key=lambda x: x.path):
        other = by_b.get(art.path)
        if other is None:
            out.append(OutputCheck(art.path, art.oid, None))
            continue
        if other.oid == art.oid:
            out.append(OutputCheck(art.path, art.oid, other.oid))
            continue
        fa, fb = artifact_files(objects, art), artifact_files(objects, other)
        inner = [
            OutputCheck("/".join(p for p in (art.path, sub) if p), fa.get(sub), fb.get(sub))
            for sub in sorted(set(fa) | set(fb)) if fa.get(sub) != fb.get(sub)
        ]
        out.extend(inner or [OutputCheck(art.path, art.oid, other.oid)])
    return out


# -- the verdict ------------------------------------------------------------------------------
def decide(original: run_store.RunRow, reproduced: run_store.RunRow,
           comparison: Comparison) -> str:
    if reproduced.status != "finished" and not (
        original.status == reproduced.status and original.exit_code == reproduced.exit_code
    ):
        return FAILED
    return DIVERGED if comparison.differs else REPRODUCED
