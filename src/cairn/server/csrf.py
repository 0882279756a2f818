"""A CSRF token for the sign-in form: the same random value in a cookie and a hidden field.

The form is posted by a browser without an API token, so nothing else tells a sign-in the
user asked for from one another site made (which would sign the victim into the attacker's
account). Another site can neither read this cookie nor set it, so it cannot fill the field.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import HTMLResponse

CSRF_COOKIE = "cairn_csrf"
CSRF_FIELD = "csrf"


def form_with_csrf(request: Request, render: Callable[[str], str], status: int = 200
                   ) -> HTMLResponse:
    """The page ``render(token)`` makes, with the same fresh token set as a cookie."""
    token = secrets.token_urlsafe(32)
    reply = HTMLResponse(render(token), status_code=status)
    reply.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/login",
                     secure=request.url.scheme == "https", max_age=3600)
    return reply


def csrf_matches(request: Request, field: str) -> bool:
    """Whether the posted field holds the token of this browser's cookie."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return bool(cookie) and secrets.compare_digest(cookie.encode(), field.encode())
