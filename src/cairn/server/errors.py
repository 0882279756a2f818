"""Every error the server answers is JSON: ``{"error": {"code", "message"}}``, never HTML.

One place maps the ``CairnError`` tree to HTTP (its ``http_status`` and ``code``); request
validation errors become 400 with the field that is wrong; anything unexpected is a 500 with
a plain sentence (the traceback goes to the server's log, not to the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cairn.errors import CairnError, FilterSyntaxError

log = logging.getLogger("cairn.server")

_STATUS_CODES = {
    400: "invalid_input", 401: "unauthenticated", 403: "permission_denied", 404: "not_found",
    405: "method_not_allowed", 409: "conflict", 413: "too_large", 415: "unsupported_media_type",
}


class Unauthenticated(CairnError):
    """No usable token came with a request to a server that requires one."""

    exit_code = 5
    http_status = 401
    code = "unauthenticated"


class TooLarge(CairnError):
    """A request body over the server's limit."""

    exit_code = 2
    http_status = 413
    code = "too_large"


def error_response(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "") and (
        not request.url.path.startswith("/api/")
    )


async def _cairn_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CairnError)
    if isinstance(exc, Unauthenticated) and _wants_html(request):
        return RedirectResponse("/login", status_code=303)
    position = exc.position if isinstance(exc, FilterSyntaxError) else None
    return error_response(exc.http_status, exc.code, exc.message, hint=exc.hint,
                          position=position)


def _field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "the request body"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(400, "invalid_input", "the request is not valid")
    first = errors[0]
    where = _field(first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'is not valid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return error_response(400, "invalid_input", message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "the request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such page: {request.url.path}"
    reply = error_response(exc.status_code, code, message)
    reply.headers.update(exc.headers or {})  # e.g. the Allow of a 405
    return reply


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return error_response(500, "internal", "the server failed to answer; see its log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CairnError, _cairn_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
