"""One way to show a value to a person, in every face: the terminal, the pages, the report.

Numbers get four significant digits (scientific notation outside 0.001–1,000,000), so a
column of metrics lines up and stays short; NaN and infinities are spelled as Python prints
them; a missing value is ``-``.
"""

from __future__ import annotations

import json
import math
from typing import Any


def fmt_value(value: Any, digits: int = 4) -> str:
    """Numbers in few significant digits, the rest as text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    if value is None:
        return "-"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
