"""JSON replies built without FastAPI's per-field encoder (too slow for 100-run pages).

JSON has no NaN or infinity, so they go out as ``null`` and ``"inf"``/``"-inf"``, as in the
CLI's ``--json`` output.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import Response

from cairn._util.jsonsafe import clean

__all__ = ["clean", "json_reply"]


def json_reply(data: Any, status_code: int = 200,
               headers: dict[str, str] | None = None) -> Response:
    try:
        body = json.dumps(data, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:  # a NaN or infinity somewhere: clean, then encode
        body = json.dumps(clean(data), separators=(",", ":"), default=str)
    return Response(body, status_code=status_code, media_type="application/json",
                    headers=headers)
