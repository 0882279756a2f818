"""JSON has no NaN or infinity: every face writes them as ``null`` and ``"inf"``/``"-inf"``."""

from __future__ import annotations

import math
from typing import Any


def clean(value: Any) -> Any:
    """``value`` with NaN turned into None and infinities into strings, recursively."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return value
