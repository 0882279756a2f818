"""Thinning long series for charts: few points, same shape, spikes kept."""

from __future__ import annotations

import math
from array import array

import pytest

from cairn.errors import InvalidInput
from cairn.history.downsample import (
    check_max_points,
    downsample,
    in_step_range,
    series_json,
)
from cairn.store.series import Series


def make(values: list[float]) -> Series:
    n = len(values)
    return Series(array("q", range(n)), array("d", values), array("q", range(0, 10 * n, 10)))


def test_a_short_series_is_left_alone() -> None:
    s = make([1.0, 2.0, 3.0])
    assert downsample(s, 100) is s


def test_a_million_points_keep_their_ends_and_extremes() -> None:
    n = 1_000_000
    values = [math.sin(i / 5000) for i in range(n)]
    values[123_457] = 50.0  # one spike, one dip: a chart must still show them
    values[876_543] = -50.0
    out = downsample(make(values), 1000)
    assert len(out) <= 1000
    assert out.steps[0] == 0 and out.steps[-1] == n - 1
    assert max(out.values) == 50.0 and min(out.values) == -50.0
    assert 123_457 in out.steps and 876_543 in out.steps
    assert list(out.steps) == sorted(out.steps)  # still in logging order
    for step, value, t in zip(out.steps, out.values, out.times, strict=True):
        assert values[step] == value and t == step * 10


def test_nan_and_infinity_do_not_hide_the_real_extremes() -> None:
    values = [float(i % 7) for i in range(10_000)]
    values[10] = math.nan
    values[20] = math.inf
    out = downsample(make(values), 100)
    finite = [v for v in out.values if math.isfinite(v)]
    assert max(finite) == 6.0 and min(finite) == 0.0
    doc = series_json(out, 10_000)
    assert None not in doc["steps"]
    assert all(v is None or math.isfinite(v) for v in doc["values"])
    assert doc["count"] == 10_000


def test_step_range() -> None:
    s = make([float(i) for i in range(100)])
    part = in_step_range(s, 10, 19.5)
    assert list(part.steps) == list(range(10, 20))
    assert in_step_range(s, None, None) is s
    assert list(in_step_range(s, 95, None).steps) == [95, 96, 97, 98, 99]


@pytest.mark.parametrize("bad", [0, 7, 20_001])
def test_max_points_bounds(bad: int) -> None:
    with pytest.raises(InvalidInput, match="max_points must be between"):
        check_max_points(bad)
    assert check_max_points(8) == 8


def test_without_numpy_the_same_extremes_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from cairn.history import downsample as module

    values = [math.cos(i / 300) * (1 + i / 50_000) for i in range(100_000)]
    values[4_242] = 99.0
    fast = downsample(make(values), 500)
    monkeypatch.setattr(module, "_picks_numpy", lambda _values, _buckets: None)
    slow = downsample(make(values), 500)
    for out in (fast, slow):
        assert len(out) <= 500
        assert max(out.values) == 99.0 and min(out.values) == min(values)
        assert out.steps[0] == 0 and out.steps[-1] == 99_999
