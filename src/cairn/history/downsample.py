"""Thinning a long metric series for a chart while keeping its shape, minimum and maximum.

A chart is a few hundred pixels wide: sending a million points costs the browser seconds and
shows nothing that a thousand well-chosen ones do not. The series is cut into equal buckets in
logging order and each bucket keeps its first, lowest, highest and last point (the M4 method),
so spikes survive and the drawn line looks the same. With numpy installed the buckets are
found in one vectorised pass (a million points in about 15 ms); without it, ``min``, ``max``
and ``index`` over ``array`` slices do the same in C-speed steps (about 200 ms).
"""

from __future__ import annotations

import math
import threading
from array import array
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from cairn.errors import InvalidInput
from cairn.store.series import Series

if TYPE_CHECKING:
    from cairn.store.core import MetaStore

np: Any
try:  # optional, and imported here so that the first chart does not wait for it
    import numpy

    np = numpy
except ImportError:  # pragma: no cover - the pure-Python path below does the same job
    np = None

MIN_POINTS = 8
MAX_POINTS = 20_000
NUMPY_FROM = 20_000  # below this the pure-Python path is as fast as importing numpy


def check_max_points(value: int) -> int:
    if not MIN_POINTS <= value <= MAX_POINTS:
        raise InvalidInput(
            f"max_points must be between {MIN_POINTS} and {MAX_POINTS:,}, not {value}"
        )
    return value


def _bucket_picks(values: array[float], lo: int, hi: int) -> list[int]:
    """Indexes of the first, lowest, highest and last finite points in ``values[lo:hi]``."""
    chunk = values[lo:hi]
    total = sum(chunk)
    if math.isfinite(total):
        low, high = min(chunk), max(chunk)
        picks = {lo, hi - 1, values.index(low, lo, hi), values.index(high, lo, hi)}
        return sorted(picks)
    # NaN or infinity somewhere in the bucket (rare): the slow path skips them.
    finite = [i for i in range(lo, hi) if math.isfinite(values[i])]
    if not finite:
        return [lo]
    low_i = min(finite, key=values.__getitem__)
    high_i = max(finite, key=values.__getitem__)
    return sorted({finite[0], finite[-1], low_i, high_i})


def _picks_numpy(values: array[float], buckets: int) -> list[int] | None:
    """The same picks as ``_bucket_picks`` over equal buckets, vectorised; None without numpy."""
    if np is None:
        return None
    n = len(values)
    v = np.frombuffer(values, dtype=np.float64, count=n)
    size = -(-n // buckets)
    rows = -(-n // size)
    finite = np.isfinite(v)
    low = np.full(rows * size, np.inf)
    high = np.full(rows * size, -np.inf)
    low[:n] = np.where(finite, v, np.inf)
    high[:n] = np.where(finite, v, -np.inf)
    starts = np.arange(rows) * size
    picks = np.concatenate([
        starts, np.minimum(starts + size - 1, n - 1),
        low.reshape(rows, size).argmin(axis=1) + starts,
        high.reshape(rows, size).argmax(axis=1) + starts,
    ])
    return [int(i) for i in np.unique(picks[picks < n])]


def downsample(series: Series, max_points: int) -> Series:
    """At most ``max_points`` points of ``series`` (all of them when it is short enough)."""
    n = len(series)
    if n <= max_points:
        return series
    buckets = max(1, max_points // 4)
    picks = _picks_numpy(series.values, buckets) if n >= NUMPY_FROM else None
    if picks is None:
        picks = []
        for b in range(buckets):
            lo = b * n // buckets
            hi = (b + 1) * n // buckets
            if hi > lo:
                picks.extend(_bucket_picks(series.values, lo, hi))
    steps, values, times = series.steps, series.values, series.times
    return Series(
        array("q", [steps[i] for i in picks]),
        array("d", [values[i] for i in picks]),
        array("q", [times[i] for i in picks]),
    )


def in_step_range(series: Series, lo: float | None, hi: float | None) -> Series:
    """The points whose step lies in ``[lo, hi]`` (for a chart zoomed in on the server)."""
    if lo is None and hi is None:
        return series
    low = -math.inf if lo is None else lo
    high = math.inf if hi is None else hi
    keep = [i for i, s in enumerate(series.steps) if low <= s <= high]
    return Series(
        array("q", [series.steps[i] for i in keep]),
        array("d", [series.values[i] for i in keep]),
        array("q", [series.times[i] for i in keep]),
    )


def series_json(series: Series, total: int) -> dict[str, Any]:
    """JSON-ready arrays; NaN and infinities become ``null`` (a gap in the chart)."""
    return {
        "steps": list(series.steps),
        "values": [v if math.isfinite(v) else None for v in series.values],
        "times": list(series.times),
        "count": total,
    }


CACHE_SIZE = 64
_cache: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_cache_lock = threading.Lock()


def thinned_series(store: MetaStore, run_id: str, key: str, count: int, max_points: int,
                   lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    """``series_json`` of the thinned series, remembered while its point ``count`` holds.

    Reading a million points takes a tenth of a second or more; a finished run's series never
    changes, and a live run's point count moves with every write, so the count in the key is
    enough to never serve stale points.
    """
    from cairn.store.metrics import read_series

    cache_key = (store.db.url, run_id, key, count, max_points, lo, hi)
    with _cache_lock:
        hit = _cache.get(cache_key)
        if hit is not None:
            _cache.move_to_end(cache_key)
            return hit
    full = in_step_range(read_series(store, run_id, key), lo, hi)
    doc = series_json(downsample(full, max_points), len(full))
    with _cache_lock:
        _cache[cache_key] = doc
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return doc
