"""A profile of the training data, per feature, kept with the model for drift detection.

Plain JSON, so any reader (the prediction server, the UI, another language) can use it::

    {"version": 1, "rows": 150, "features": {
      "sepal_length": {"type": "numeric", "count": 150, "missing": 0, "mean": 5.84,
                       "std": 0.83, "min": 4.3, "max": 7.9,
                       "quantiles": {"0.0": 4.3, "0.1": 4.8, …, "1.0": 7.9},
                       "percentiles": [4.3, …],            # 101 values, 0 % … 100 %
                       "histogram": {"edges": [4.3, …, 7.9], "counts": [9, …]}},
      "plan": {"type": "categorical", "count": 150, "missing": 0,
               "frequencies": {"basic": 90, "pro": 60}, "other": 0}}}

Histogram edges are stored raw (ten equal-width bins over the training range), so population
stability can be computed by counting new values into the same bins; the 101 percentiles are
a compact empirical distribution for Kolmogorov–Smirnov. Arrays name their features by
column position ("0", "1", …), as ``Signature.feature_names`` does.
"""

from __future__ import annotations

import math
from typing import Any

from cairn.errors import InvalidInput

PROFILE_VERSION = 1
HISTOGRAM_BINS = 10
MAX_CATEGORIES = 50


def build_profile(data: Any) -> dict[str, Any]:
    """Per-feature statistics of ``data`` (a DataFrame, records, or a 1-D/2-D array)."""
    frame = _as_frame(data)
    features: dict[str, Any] = {}
    for name in frame.columns:
        series = frame[name]
        features[str(name)] = (
            _numeric(series) if _is_numeric(series) else _categorical(series)
        )
    return {"version": PROFILE_VERSION, "rows": len(frame), "features": features}


def _as_frame(data: Any) -> Any:
    import numpy as np
    import pandas as pd

    from cairn.models.signature import as_array, as_frame_or_none

    frame = as_frame_or_none(data)
    if frame is not None:
        return frame
    array = as_array(data)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise InvalidInput(
            f"cannot profile data of shape {list(array.shape)}; give profile_data= as a table "
            "(rows of features)"
        )
    return pd.DataFrame(np.asarray(array), columns=[str(i) for i in range(array.shape[1])])


def _is_numeric(series: Any) -> bool:
    import pandas as pd

    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or isinstance(dtype, pd.CategoricalDtype):
        return False
    if pd.api.types.is_numeric_dtype(dtype):
        return True
    if dtype.kind == "O":  # object columns of numbers, as from an array of mixed rows
        converted = pd.to_numeric(series, errors="coerce")
        return bool(converted.notna().sum() == series.notna().sum() and series.notna().any())
    return False


def _num(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number


def _numeric(series: Any) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64")
    finite = values[np.isfinite(values)]
    out: dict[str, Any] = {"type": "numeric", "count": int(finite.size),
                           "missing": int(values.size - finite.size)}
    if finite.size == 0:
        out.update(mean=None, std=None, min=None, max=None, quantiles={}, percentiles=[],
                   histogram={"edges": [], "counts": []})
        return out
    deciles = np.quantile(finite, np.linspace(0.0, 1.0, 11))
    percentiles = np.quantile(finite, np.linspace(0.0, 1.0, 101))
    counts, edges = np.histogram(finite, bins=HISTOGRAM_BINS)
    out.update(
        mean=_num(finite.mean()),
        std=_num(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        min=_num(finite.min()),
        max=_num(finite.max()),
        quantiles={f"{q / 10:.1f}": _num(v) for q, v in enumerate(deciles)},
        percentiles=[_num(v) for v in percentiles],
        histogram={"edges": [_num(e) for e in edges], "counts": [int(c) for c in counts]},
    )
    return out


def _categorical(series: Any) -> dict[str, Any]:
    present = series.dropna()
    counts = present.map(_key).value_counts()
    top = counts.iloc[:MAX_CATEGORIES]
    return {
        "type": "categorical",
        "count": int(present.size),
        "missing": int(series.size - present.size),
        "frequencies": {str(k): int(v) for k, v in top.items()},
        "other": int(counts.iloc[MAX_CATEGORIES:].sum()),
    }


def _key(value: Any) -> str:
    """Category keys as the JSON a request would carry: true/false, 1, "a"."""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "true" if value else "false"
    return str(value)
