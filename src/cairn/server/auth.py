"""Who is calling, and may they? FastAPI dependencies for the API and the web UI.

A request carries an API token as ``Authorization: Bearer <token>``. A browser instead holds
a session in the ``cairn_session`` cookie (set by ``/login``; the token itself never sits in
a cookie), which is accepted for reading only (GET and HEAD): a cookie is sent by the browser
on its own, so accepting it for writes would let any other site make them (CSRF). Without
a token the answer is 401; with a role too low for the request, 403. A server started with
``--no-auth`` (only allowed on localhost) treats every request as its local user with the
admin role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request

from cairn.errors import PermissionDenied
from cairn.server.errors import Unauthenticated
from cairn.server.state import ServerState
from cairn.store.accounts import User, allows
from cairn.store.core import MetaStore

COOKIE = "cairn_session"
_SAFE_METHODS = ("GET", "HEAD")
_IDENTIFIED = "cairn.user"  # the scope key under which a request's user is kept once found


@dataclass(frozen=True)
class Caller:
    """The user behind a request, their role in the project asked for, and its store."""

    user: str
    role: str
    store: MetaStore


def state_of(request: Request) -> ServerState:
    state = request.app.state.cairn
    assert isinstance(state, ServerState)
    return state


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def session_secret(request: Request) -> str | None:
    """The browser session's secret, on reading requests only."""
    if request.method in _SAFE_METHODS:
        return request.cookies.get(COOKIE) or None
    return None


def identify(request: Request) -> User | None:
    """The user behind the request's token or session; ``None`` without authentication.

    The answer is kept on the request, so the guard (which asks before the body is read) and
    the route's dependency cost one lookup between them.
    """
    if _IDENTIFIED in request.scope:
        found: User | None = request.scope[_IDENTIFIED]
        return found
    state = state_of(request)
    if not state.auth:
        return None
    token = bearer_token(request)
    if token is not None:
        user = state.tokens.user_for(token)
        if user is None:
            raise Unauthenticated("the API token is not valid (unknown, expired or revoked)",
                                  hint="ask an admin for a new one: cairn server token create")
    else:
        secret = session_secret(request)
        if secret is None:
            raise Unauthenticated(
                "this server needs an API token",
                hint="cairn login REMOTE (an admin makes one: cairn server token create USER)",
            )
        user = state.tokens.user_for_session(secret)
        if user is None:
            raise Unauthenticated("the session has ended; sign in again",
                                  hint="open /login")
    request.scope[_IDENTIFIED] = user
    return user


def signed_in_as(request: Request) -> str | None:
    """The name of the user whose browser session made this request (for "Sign out")."""
    user = request.scope.get(_IDENTIFIED)
    if isinstance(user, User) and session_secret(request) is not None:
        return user.name
    return None


def authenticate(request: Request, project: str | None, needed: str) -> Caller:
    state = state_of(request)
    user = identify(request)
    store = state.store(project)
    if user is None:
        return Caller(user=state.local_user, role="admin", store=store)
    role = state.tokens.role(user, store.project_id)
    if not allows(role, needed):
        has = f"is a {role} of" if role else "has no role in"
        raise PermissionDenied(
            f"{user.name} {has} project {store.project_name!r}; this needs the {needed} role",
            hint=f"an admin can grant it: cairn server user add {user.name} --role {needed}",
        )
    assert role is not None
    return Caller(user=user.name, role=role, store=store)


_PROJECT = Query(description="The project (default: the server's own).")


def reader(request: Request, project: Annotated[str | None, _PROJECT] = None) -> Caller:
    return authenticate(request, project, "reader")


def writer(request: Request, project: Annotated[str | None, _PROJECT] = None) -> Caller:
    return authenticate(request, project, "writer")


def admin(request: Request, project: Annotated[str | None, _PROJECT] = None) -> Caller:
    return authenticate(request, project, "admin")


SignedIn = Annotated[User | None, Depends(identify)]
Reader = Annotated[Caller, Depends(reader)]
Writer = Annotated[Caller, Depends(writer)]
Admin = Annotated[Caller, Depends(admin)]
