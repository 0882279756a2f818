"""The one JSON error of both servers: ``{"error": {"code", "message", "hint"?, ...}}``.

A ``CairnError`` answers its own ``http_status`` and ``code``, its hint when it has one, and
its ``details()`` beside them (the column of a filter error, the unknown prediction ids).
A 401 also says ``WWW-Authenticate: Bearer``. The guard's refusals, each server's exception
handler and the framework's own 404 and 405 all go through here, so a client reads every
refusal of ``cairn server`` and ``cairn serve`` the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.responses import Response

from cairn.errors import CairnError

Headers = list[tuple[bytes, bytes]]

# The code of an error the framework raised by status alone (an unknown path, a wrong method).
STATUS_CODES = {
    400: "invalid_input", 401: "unauthenticated", 403: "permission_denied", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
}


def error_document(code: str, message: str, hint: str | None = None,
                   details: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of an error."""
    error: dict[str, Any] = {"code": code, "message": message}
    if hint:
        error["hint"] = hint
    error.update({k: v for k, v in (details or {}).items() if v is not None})
    return {"error": error}


def encode(status: int, code: str, message: str, hint: str | None = None,
           details: dict[str, Any] | None = None) -> tuple[int, Headers, bytes]:
    """An error as the status, headers and body of an HTTP answer (for raw ASGI)."""
    body = json.dumps(error_document(code, message, hint, details), ensure_ascii=False,
                      separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    return status, headers, body


def encode_error(exc: CairnError) -> tuple[int, Headers, bytes]:
    return encode(exc.http_status, exc.code, exc.message, exc.hint, exc.details())


def error_response(exc: CairnError) -> Response:
    """``exc`` as a response of the framework."""
    return _response(*encode_error(exc))


def status_response(status: int, message: str, *, code: str | None = None,
                    headers: Mapping[str, str] | None = None) -> Response:
    """An error the framework raised with only a status (an unknown path, a wrong method,
    a failure of the server itself); ``headers`` adds some, such as a 405's ``Allow``."""
    reply = _response(*encode(status, code or STATUS_CODES.get(status, "error"), message))
    reply.headers.update(headers or {})
    return reply


def _response(status: int, headers: Headers, body: bytes) -> Response:
    return Response(body, status_code=status,
                    headers={k.decode(): v.decode() for k, v in headers if k != b"content-length"})
