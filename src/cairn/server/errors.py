"""Every error the server answers is JSON: ``{"error": {"code", "message"}}``, never HTML.

The ``CairnError`` tree is answered in the one shape of ``_http.errors`` (its
``http_status``, ``code``, hint and details); request validation errors become 400 with the
field that is wrong; anything unexpected is a 500 with a plain sentence (the traceback goes to
the server's log, not to the client). A page a browser asks for without a token is the one
exception: it is sent to the sign-in form.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from cairn._http.errors import error_response, status_response
from cairn.errors import CairnError, Unauthenticated

__all__ = ["Unauthenticated", "install_error_handlers"]  # Unauthenticated: for older imports

log = logging.getLogger("cairn.server")


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and "text/html" in request.headers.get("accept", "") and (
        not request.url.path.startswith("/api/")
    )


async def _cairn_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CairnError)
    if isinstance(exc, Unauthenticated) and _wants_html(request):
        return RedirectResponse("/login", status_code=303)
    return error_response(exc)


def _field(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "the request body"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return status_response(400, "the request is not valid")
    first = errors[0]
    where = _field(first.get("loc", ()))
    message = f"{where}: {first.get('msg', 'is not valid')}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problems)"
    return status_response(400, message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "the request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such page: {request.url.path}"
    return status_response(exc.status_code, message, headers=exc.headers)  # e.g. a 405's Allow


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error answering %s %s", request.method, request.url.path)
    return status_response(500, "the server failed to answer; see its log", code="internal")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(CairnError, _cairn_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
