"""Signing a browser in and out: ``/login`` trades an API token for a session cookie.

The cookie holds a session's random secret, never the token (the store keeps the secret's
SHA-256 only); ``/logout`` ends the session on the server, so a copied cookie stops working
too. The session ends with its token (revoked or expired) and after 30 days at most. The
cookie is only ever accepted for reading (see ``auth``), so it cannot be used to write on the
user's behalf from another site.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cairn._util.ids import now_ms
from cairn.server.auth import COOKIE, state_of
from cairn.server.csrf import csrf_matches, form_with_csrf
from cairn.store.accounts import create_session, end_session

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>cairn · sign in</title>
<style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:12vh auto;padding:0 1rem}}
input{{font:inherit;width:100%;padding:.5rem;margin:.5rem 0;box-sizing:border-box}}
.err{{color:#b00020}}</style></head><body><h1>cairn</h1>
<form method="post" action="/login"><input type="hidden" name="csrf" value="{csrf}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus>
<button type="submit">Sign in</button></form>{error}
<p><small>An admin makes tokens with <code>cairn server token create NAME</code>.</small></p>
</body></html>"""


@router.get("/login")
def login_page(request: Request) -> Response:
    if not state_of(request).auth:
        return RedirectResponse("/", status_code=303)
    return form_with_csrf(request, lambda csrf: _PAGE.format(error="", csrf=csrf))


@router.post("/login")
def login(request: Request, token: str = Form(""), csrf: str = Form("")) -> Response:
    state = state_of(request)
    if not csrf_matches(request, csrf):
        return form_with_csrf(request, lambda new: _PAGE.format(
            error='<p class="err">The sign-in form expired; sign in again.</p>', csrf=new), 403)
    reply = RedirectResponse("/", status_code=303)
    if not state.auth:
        return reply
    session = create_session(state.db, token.strip())
    if session is None:
        return form_with_csrf(request, lambda new: _PAGE.format(
            error='<p class="err">That token is not valid (unknown, expired or revoked).</p>',
            csrf=new), 401)
    secret, ends_ms = session
    max_age = max(1, (ends_ms - now_ms()) // 1000)
    reply.set_cookie(COOKIE, secret, httponly=True, samesite="strict",
                     secure=request.url.scheme == "https", max_age=max_age)
    return reply


@router.post("/logout")
def logout(request: Request) -> Response:
    """End this browser's session on the server and forget its cookie."""
    secret = request.cookies.get(COOKIE)
    if secret and state_of(request).auth:
        end_session(state_of(request).db, secret)
    reply = RedirectResponse("/login", status_code=303)
    reply.delete_cookie(COOKIE)
    return reply
