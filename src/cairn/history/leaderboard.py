"""The leaderboard: the runs with the best value of one metric, best first.

Also the two rules every face uses when it ranks metrics: keys under ``sys/`` are the
system metrics cairn records itself (CPU, memory, GPU) and are never a run's result, and a
metric whose name says loss, error, latency or time is better when lower.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from cairn.errors import FilterSyntaxError, InvalidInput
from cairn.history.listing import RunSummary, list_runs, varying_keys
from cairn.store.core import MetaStore
from cairn.store.filter_parse import field_text
from cairn.store.metrics import recent_metric_keys

SYS_PREFIX = "sys/"
LEADERBOARD_SIZE = 25
MAX_PARAM_COLUMNS = 6
_LOWER_IS_BETTER = re.compile(r"loss|err|mae|mse|rmse|mape|latency|time|perplexity|wer|cer",
                              re.IGNORECASE)


def lower_is_better(key: str) -> bool:
    """A guess from the name (``loss``, ``rmse``…) for the leaderboard's default direction."""
    return bool(_LOWER_IS_BETTER.search(key))


@dataclass
class Leaderboard:
    metric: str | None
    mode: str
    metrics: list[str]
    rows: list[RunSummary]
    params: list[str]
    filter: str
    mode_given: str = ""  # what the user chose; empty for the metric's usual direction
    error: FilterSyntaxError | None = None


def leaderboard(store: MetaStore, *, metric: str | None, mode: str | None,
                filter_expr: str = "", size: int = LEADERBOARD_SIZE) -> Leaderboard:
    """The runs with the best value of ``metric`` (highest for ``max``, lowest for ``min``)."""
    keys = recent_metric_keys(store)
    if metric is None:
        plain = [k for k in keys if not k.startswith(SYS_PREFIX)]
        metric = plain[0] if plain else (keys[0] if keys else None)
    if metric is not None and metric not in keys:
        keys = sorted([*keys, metric])
    if mode not in (None, "", "max", "min"):
        raise InvalidInput(f"mode must be max or min, not {mode!r}")
    direction = mode or ("min" if metric and lower_is_better(metric) else "max")
    board = Leaderboard(metric, direction, keys, [], [], filter_expr, mode or "")
    if metric is None:
        return board
    sort = ("" if direction == "min" else "-") + field_text("metrics", metric)
    try:
        rows, _total = list_runs(store, filter_expr=filter_expr or None, sort=sort, limit=size)
    except FilterSyntaxError as exc:
        board.error = exc
        return board
    board.rows = [r for r in rows if _finite(r.metrics.get(metric))]
    board.params = varying_keys([r.params for r in board.rows])[:MAX_PARAM_COLUMNS]
    return board


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
