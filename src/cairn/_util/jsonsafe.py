"""JSON has no NaN or infinity; this is how every face writes them.

NaN becomes ``null`` (nothing was measured) and an infinity the string ``"inf"`` or
``"-inf"``, because a diverged loss is a result a reader must see, not a gap. The CLI's
``--json``, the REST API, the web UI's embedded data, the report and the model server's
answers all go through ``clean``; the REST API reads ``"nan"``, ``"inf"`` and ``"-inf"`` back
as numbers. Charts draw neither (uPlot has no point for them), so their series carry
``null`` for both, made in ``history/downsample``.
"""

from __future__ import annotations

import math
from typing import Any


def clean(value: Any) -> Any:
    """``value`` with NaN turned into None and infinities into strings, recursively; mapping
    keys become text, as JSON's are."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value
