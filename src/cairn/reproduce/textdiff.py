"""Comparing what two runs printed, for scripts that log no metrics.

Most existing scripts print their results instead of logging them, so their output is the
evidence. Before comparing, each line is cleaned of what changes from run to run without
meaning anything: terminal escapes, progress-bar redraws, timestamps and clock times,
durations (``1.2s``, ``took 3.4``), rates (``12.3it/s``) and memory addresses. The numbers
left are compared within the tolerance (integers exactly), the text around them exactly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?"
                r"(?:Z|[+-]\d{2}:?\d{2})?)?"), "<time>"),
    (re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"0x[0-9a-fA-F]{6,}"), "<addr>"),
    (re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\s?"
                r"(?:it/s|s/it|[A-Za-z]+/s(?:ec)?)\b"), "<rate>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|mins?|minutes?"
                r"|h|hrs?|hours?)\b"), "<duration>"),
    (re.compile(r"(?i)(\b(?:took|elapsed|time|duration|runtime|wall)\b\W{0,3})"
                r"\d+(?:\.\d+)?"), r"\1<duration>"),
)
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w.])"
                     r"|\b(?:nan|inf)\b", re.IGNORECASE)


@dataclass(frozen=True)
class LineDiff:
    line: int  # 1-based, in the cleaned output
    original: str | None
    reproduced: str | None

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "original": self.original, "reproduced": self.reproduced}


@dataclass(frozen=True)
class OutputComparison:
    identical: bool
    lines_original: int
    lines_reproduced: int
    differences: tuple[LineDiff, ...]  # the first few

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "lines_original": self.lines_original,
            "lines_reproduced": self.lines_reproduced,
            "first_differences": [d.to_json() for d in self.differences],
        }


def clean_lines(text: str) -> list[str]:
    """Lines as a reader saw them last: escapes dropped, ``\\r`` redraws collapsed."""
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    lines = []
    for raw in text.split("\n"):
        line = raw.rsplit("\r", 1)[-1].rstrip()
        if line:
            lines.append(line)
    return lines


def mask(line: str) -> str:
    for pattern, replacement in _MASKS:
        line = pattern.sub(replacement, line)
    return line


def _split(line: str) -> tuple[list[str], list[str]]:
    return _NUMBER.split(line), _NUMBER.findall(line)


def _close(a: str, b: str, rtol: float, atol: float) -> bool:
    if a == b:
        return True
    is_int = not any(c in a + b for c in ".eEnN")
    if is_int:
        return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return math.isclose(x, y, rel_tol=rtol, abs_tol=atol)


def same_line(a: str, b: str, rtol: float, atol: float) -> bool:
    """Equal text around the numbers, and numbers within tolerance."""
    if a == b:
        return True
    text_a, nums_a = _split(a)
    text_b, nums_b = _split(b)
    return text_a == text_b and len(nums_a) == len(nums_b) and all(
        _close(x, y, rtol, atol) for x, y in zip(nums_a, nums_b, strict=True)
    )


def compare_output(
    original: str, reproduced: str, *, rtol: float, atol: float,
    replace: Sequence[tuple[str, str]] = (), limit: int = 5,
) -> OutputComparison:
    """Compare two outputs line by line; ``replace`` rewrites paths in the reproduction."""
    for old, new in replace:
        if old:
            reproduced = reproduced.replace(old, new)
    lines_a = clean_lines(original)
    lines_b = clean_lines(reproduced)
    diffs: list[LineDiff] = []
    count = 0
    for i in range(max(len(lines_a), len(lines_b))):
        a = lines_a[i] if i < len(lines_a) else None
        b = lines_b[i] if i < len(lines_b) else None
        if a is not None and b is not None and same_line(mask(a), mask(b), rtol, atol):
            continue
        count += 1
        if len(diffs) < limit:
            diffs.append(LineDiff(i + 1, a, b))
    return OutputComparison(count == 0, len(lines_a), len(lines_b), tuple(diffs))
