"""The comparison rules behind a verdict: tolerances, series, and printed output."""

from __future__ import annotations

import math
from array import array

from cairn.reproduce.textdiff import compare_output
from cairn.reproduce.verify import Tolerance, compare_metrics, compare_params, compare_series
from cairn.store.series import Series


def _series(values: list[float]) -> Series:
    n = len(values)
    return Series(array("q", range(n)), array("d", values), array("q", [0] * n))


def test_default_tolerances_accept_float_noise_but_not_changed_counts() -> None:
    tol = Tolerance()
    assert tol.close(0.9312, 0.9312 * (1 + 1e-8))
    assert not tol.close(0.9312, 0.9313)
    assert tol.close(1e-12, 0.0)  # below atol
    assert not tol.close(1_000_000.0, 1_000_001.0)  # whole numbers are exact
    assert tol.close(math.nan, math.nan)
    assert tol.close(math.inf, math.inf) and not tol.close(math.inf, -math.inf)


def test_metric_rows_give_the_differences_and_leave_out_system_metrics() -> None:
    rows = compare_metrics({"acc": 0.5, "loss": 0.2, "sys/cpu": 10.0},
                           {"acc": 0.5, "loss": 0.25, "sys/cpu": 80.0}, Tolerance())
    assert [(r.key, r.ok) for r in rows] == [("acc", True), ("loss", False)]
    loss = rows[1]
    assert math.isclose(loss.abs_diff or 0, 0.05) and math.isclose(loss.rel_diff or 0, 0.2)


def test_a_metric_missing_from_the_reproduction_is_not_ok() -> None:
    rows = compare_metrics({"acc": 0.5}, {}, Tolerance())
    assert rows[0].ok is False and rows[0].reproduced is None


def test_a_series_that_drifts_names_the_first_step_even_when_the_end_agrees() -> None:
    a = _series([1.0, 0.5, 0.25, 0.1])
    b = _series([1.0, 0.5, 0.3, 0.1])
    check = compare_series(a, b, Tolerance())
    assert not check.ok and check.first_step_differing == 2
    rows = compare_metrics({"loss": 0.1}, {"loss": 0.1}, Tolerance(), {"loss": (a, b)})
    assert rows[0].ok is False


def test_params_compare_numbers_within_tolerance_and_the_rest_exactly() -> None:
    tol = Tolerance()
    assert compare_params({"lr": 0.1, "model": "rf"}, {"lr": 0.1 + 1e-12, "model": "rf"},
                          tol) == []
    diffs = compare_params({"model": "rf"}, {"model": "gbm", "extra": 1}, tol)
    assert [d.key for d in diffs] == ["extra", "model"]


def test_printed_output_masks_timings_and_compares_numbers_within_tolerance() -> None:
    original = (
        "2024-01-02 10:11:12 start\n"
        "epoch 1 loss 0.250000001 took 1.52s (12.3it/s)\n"
        "model at 0x7f3a2b1c4d50\n"
        "\x1b[32mdone\x1b[0m in 3.2 seconds\n"
    )
    reproduced = (
        "2025-06-30 23:59:01 start\n"
        "epoch 1 loss 0.250000002 took 0.87s (40.1it/s)\n"
        "model at 0x7f00aa11bb22\n"
        "done in 1.0 seconds\n"
    )
    result = compare_output(original, reproduced, rtol=1e-6, atol=1e-9)
    assert result.identical, result.differences


def test_printed_output_reports_the_first_differing_lines() -> None:
    result = compare_output("rows 10\nacc 0.91\nf1 0.8\n", "rows 11\nacc 0.93\nf1 0.8\n",
                            rtol=1e-6, atol=1e-9)
    assert not result.identical
    assert [(d.line, d.original, d.reproduced) for d in result.differences] == [
        (1, "rows 10", "rows 11"), (2, "acc 0.91", "acc 0.93"),
    ]


def test_progress_bar_redraws_and_missing_lines_are_handled() -> None:
    result = compare_output("10%\r50%\r100%\nend\n", "100%\nend\nextra\n", rtol=0, atol=0)
    assert [(d.line, d.original, d.reproduced) for d in result.differences] == [
        (3, None, "extra"),
    ]


def test_paths_of_the_checkout_are_read_as_the_original_folder() -> None:
    result = compare_output("saved /home/u/proj/model.pkl\n", "saved /tmp/co/model.pkl\n",
                            rtol=0, atol=0, replace=[("/tmp/co", "/home/u/proj")])
    assert result.identical
