"""Signing a browser in: ``/login`` keeps an API token in an HttpOnly cookie for the web UI.

The cookie is only ever accepted for reading (see ``auth``), so it cannot be used to write
on the user's behalf from another site.
"""

from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from cairn.server.auth import COOKIE, state_of
from cairn.server.csrf import csrf_matches, form_with_csrf

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
    if state.auth and state.tokens.user_for(token.strip()) is None:
        return form_with_csrf(request, lambda new: _PAGE.format(
            error='<p class="err">That token is not valid.</p>', csrf=new), 401)
    reply = RedirectResponse("/", status_code=303)
    if state.auth:
        reply.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                         secure=request.url.scheme == "https", max_age=30 * 86400)
    return reply


@router.post("/logout")
def logout() -> Response:
    reply = RedirectResponse("/login", status_code=303)
    reply.delete_cookie(COOKIE)
    return reply
