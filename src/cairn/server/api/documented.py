"""The error replies the API sends, as the OpenAPI document declares them.

Every error is ``{"error": {"code", "message"}}`` (``server/errors.py``), and request
validation answers 400, never FastAPI's default 422: declaring ``default`` here keeps FastAPI
from advertising a 422 that is never sent, so clients and schema-driven tests read the truth.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    position: int | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


def _reply(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _reply("The request is not valid (a field, a filter, a cursor, a limit)"),
    401: _reply("No usable token came with the request"),
    403: _reply("The caller's role does not allow this"),
    404: _reply("No such run, file or metric"),
    409: _reply("The run is not in a state that allows this, or a reference is ambiguous"),
    413: _reply("The request body is over the server's limit"),
    "default": _reply("Any other error, in the same form"),
}
