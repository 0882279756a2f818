"""JSON request bodies checked before any handler sees them.

JSON may spell a lone surrogate (``"\\ud800"``), which Python decodes into a string that can
be stored in SQLite but never encoded again, so every page showing it would fail. A route of
``CheckedRoute`` refuses such a body with 400 and one sentence, as it does a body nested so
deep that decoding it would exhaust the interpreter's recursion limit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from cairn._util.text import first_bad_text
from cairn.errors import InvalidInput

# A ``\\uD800``–``\\uDFFF`` escape: only bodies holding one need the walk over their values.
_SURROGATE_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)", re.ASCII)


def decode_json(raw: bytes) -> Any:
    """``raw`` as JSON; InvalidInput when it does not parse, nests too deep or holds bad text."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise InvalidInput("the request body nests too deeply to be read") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON ({exc})") from None
    if _SURROGATE_ESCAPE.search(raw):
        problem = first_bad_text(value, "the request body")
        if problem is not None:
            raise InvalidInput(problem)
    return value


class _CheckedRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = decode_json(await self.body())
            except InvalidInput as exc:
                # FastAPI passes an HTTPException through and replaces any other error with
                # a vaguer sentence of its own.
                raise HTTPException(400, detail=exc.message) from None
        return self._json


class CheckedRoute(APIRoute):
    """A route whose JSON body is read with ``decode_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def checked(request: Request) -> Response:
            return await handler(_CheckedRequest(request.scope, request.receive))

        return checked
