"""Alternating cairn and its anchor, pair after pair, and summarising what came out.

A *case* compares one piece of work done by cairn (side A) and by an anchor (side B). Each
side is a callable that does the work once, in fresh subprocesses, and returns named figures.
The harness calls A, B, A, B, … so that slow drift of the machine (thermal, page cache, other
load) lands on both tools alike, and reports every figure's median, min and max per side and
the ratio within each pair.
"""

from __future__ import annotations

import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from benchmarks.procs import Failed, Tool, Unavailable

SideFn = Callable[[], dict[str, float]]


@dataclass(frozen=True)
class Figure:
    """One number a case reports. ``unit``: "s", "/s" (with ``what``), "GB/s" or "count"."""

    key: str
    label: str
    unit: str
    higher_is_better: bool = False
    what: str = ""
    compare: bool = True  # False: shown per side, no ratio (counts, unlike work)


@dataclass(frozen=True)
class Side:
    tool: str
    run: SideFn


@dataclass(frozen=True)
class Case:
    """A comparison; ``anchor`` is None for a figure with nothing to compare against."""

    name: str
    figures: tuple[Figure, ...]
    cairn: Side | None
    anchor: Side | None = None
    note: str = ""
    warmup: bool = False
    pairs: int | None = None  # None: the session's --pairs


@dataclass
class SideResult:
    tool: str
    status: str = "ok"  # ok | unavailable | failed
    reason: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0  # wall time spent in this side's calls, setup included

    def add(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.samples.setdefault(key, []).append(value)


@dataclass
class CaseResult:
    scenario: str
    case: str
    note: str
    figures: tuple[Figure, ...]
    cairn: SideResult | None
    anchor: SideResult | None
    seconds: float
    ratios: dict[str, list[float]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(s is not None and s.status == "failed" for s in (self.cairn, self.anchor))


def human_bytes(size: int) -> str:
    return f"{size / 1e9:g} GB" if size >= 1e9 else f"{size / 1e6:,.0f} MB"


def stats(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def advantage(fig: Figure, cairn: float, anchor: float) -> float | None:
    """How many times better cairn is than the anchor on this figure (>1: cairn better)."""
    if not fig.compare or cairn <= 0 or anchor <= 0:
        return None
    return cairn / anchor if fig.higher_is_better else anchor / cairn


def _call(side: Side, result: SideResult) -> dict[str, float] | None:
    if result.status != "ok":
        return None
    start = time.perf_counter()
    try:
        values = side.run()
    except Unavailable as exc:
        result.status, result.reason = "unavailable", str(exc)
    except Failed as exc:
        result.status, result.reason = "failed", str(exc)
    except Exception as exc:  # a bug in the harness itself is a failure too, never a skip
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result.status = "failed"
        result.reason = f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
    else:
        result.add(values)
        return values
    finally:
        result.seconds += time.perf_counter() - start
    return None


def run_case(
    scenario: str, case: Case, pairs: int, console: Console, *, warmup: bool = True
) -> CaseResult:
    started = time.perf_counter()
    sides = [s for s in (case.cairn, case.anchor) if s is not None]
    results = {id(s): SideResult(s.tool) for s in sides}
    if case.warmup and warmup:
        for side in sides:
            _call(side, SideResult(side.tool))  # thrown away; a failure recurs below
    ratios: dict[str, list[float]] = {}
    for i in range(case.pairs or pairs):
        got = [_call(s, results[id(s)]) for s in sides]
        if case.cairn and case.anchor and got[0] is not None and got[1] is not None:
            for fig in case.figures:
                if fig.key in got[0] and fig.key in got[1]:
                    r = advantage(fig, got[0][fig.key], got[1][fig.key])
                    if r is not None:
                        ratios.setdefault(fig.key, []).append(r)
        if all(results[id(s)].status != "ok" for s in sides):
            break
        console.log(f"  {scenario}/{case.name}: pair {i + 1} done")
    result = CaseResult(
        scenario=scenario, case=case.name, note=case.note, figures=case.figures,
        cairn=results[id(case.cairn)] if case.cairn else None,
        anchor=results[id(case.anchor)] if case.anchor else None,
        seconds=time.perf_counter() - started, ratios=ratios,
    )
    for outcome in (result.cairn, result.anchor):
        if outcome is not None and outcome.status != "ok":
            style = "red" if outcome.status == "failed" else "yellow"
            console.log(f"  [{style}]{scenario}/{case.name}: {outcome.tool} {outcome.status}: "
                        f"{outcome.reason}[/{style}]", markup=True, highlight=False)
    return result


@dataclass(frozen=True)
class Context:
    """What a scenario needs: sizes, tools and a scratch folder of its own."""

    quick: bool
    scratch: Path
    cairn: Tool
    mlflow: Tool
    dvc: Tool
    timeout: float

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    def folder(self, name: str) -> Path:
        path = self.scratch / name
        path.mkdir(parents=True, exist_ok=False)
        return path


Scenario = Callable[[Context], Iterator[Case]]


def failing(name: str, figures: tuple[Figure, ...], tool: str, reason: str) -> Case:
    """A case standing for setup that failed, so the failure shows in the report."""

    def fail() -> dict[str, float]:
        raise Failed(reason)

    return Case(name, figures, Side(tool, fail), pairs=1)
