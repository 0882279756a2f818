"""One ASGI middleware in front of both servers: who may send what, and how much.

It runs before the framework reads anything, because FastAPI reads and parses a body before
it solves the dependencies that check tokens: left to FastAPI, an anonymous 512 MB body is
held in memory before its 401. In order, for each HTTP request:

1. ``Host`` must name the server (DNS rebinding: a page on another site that resolves its own
   name to 127.0.0.1 sends its own name as ``Host``). See ``HostRule``.
2. A write (POST, PUT, PATCH, DELETE) must not be one a browser sends cross-site on its own:
   an ``Origin`` that is not the ``Host`` is refused, and the request must carry
   ``Authorization``, ``X-Cairn-Client`` or a ``Content-Type`` other than the three a page may
   send without asking (forms and ``text/plain``). Form paths (the sign-in form, which carries
   its own CSRF token) are exempt from the second rule only.
3. ``authenticate`` (when given) may refuse a write before its body is read.
4. The body is counted while it streams in, chunked or not; past ``body_limit`` the
   application's ``receive`` raises ``TooLarge``, the answer is 413 and whatever the
   application made of the cut-off body is dropped. This is the only body-size check of both
   servers: their handlers read bodies without counting.

Every response gets ``nosniff``, a Content-Security-Policy and ``X-Frame-Options: DENY``.
Refusals are ``CairnError``s, answered as the servers' one JSON error (``_http.errors``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cairn._http.errors import encode_error
from cairn._util.sizes import human_size
from cairn.errors import CairnError, InvalidInput, PermissionDenied, TooLarge

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Answers an error when the request may not go on (its body unread), else None.
Authenticate = Callable[[Scope], Awaitable[CairnError | None]]
BodyLimit = Callable[[str, str], int]

DEFAULT_BODY_LIMIT = 16 * 1024 * 1024
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost",
                            "127.0.0.1", "::1"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
# The types a page may POST cross-site without a CORS preflight (the Fetch standard).
SIMPLE_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data",
                          "text/plain"})
CLIENT_HEADER = "x-cairn-client"
# htmx and uPlot are files under /static; templates use style attributes but no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"referrer-policy", b"same-origin"),
)


def is_loopback(name: str) -> bool:
    """``localhost``, ``127.0.0.1``, ``[::1]``…: a name or address only this machine reaches."""
    name = name.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _host_name(host: str) -> str:
    """``Example.org:5005`` -> ``example.org``; ``[::1]:80`` -> ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class HostRule:
    """Which ``Host`` names a server answers to, from the address it was bound to.

    A loopback bind answers localhost, 127.0.0.1 and [::1] (any port); a specific address,
    that address; a wildcard bind (0.0.0.0, ::) any name, except on connections that arrive
    on a loopback address, which are what a rebinding page makes. ``allowed`` names more
    (``--allowed-host``, e.g. the name a reverse proxy forwards); given with a wildcard bind,
    only those names and the loopback ones are answered. ``bind=None`` (an app built without
    a server, as in tests) is treated like a wildcard bind.
    """

    bind: str | None = None
    allowed: tuple[str, ...] = ()

    def allows(self, host: str, local_address: str | None) -> bool:
        name = _host_name(host)
        if not name:
            return False
        if is_loopback(name) or name in {_host_name(a) for a in self.allowed}:
            return True
        bind = _host_name(self.bind) if self.bind is not None else None
        if bind is not None and bind not in WILDCARD_BINDS:
            return name == bind
        if self.allowed:
            return False
        return local_address is None or not is_loopback(local_address)


def _origin_matches(origin: str, host: str) -> bool:
    """Whether ``Origin`` (scheme://name[:port]) is the site named by ``Host``."""
    try:
        parts = urlsplit(origin)
        origin_port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
        here = urlsplit(f"//{host}")
        host_port = here.port
    except ValueError:
        return False
    if not parts.hostname or parts.hostname != here.hostname:
        return False
    return host_port is None or host_port == origin_port


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-case name (the first of repeated ones)."""
    found: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        found.setdefault(raw_name.decode("latin-1").lower(), raw_value.decode("latin-1"))
    return found


class _Reply:
    """The response side of one exchange: adds the headers, and can replace the app's answer."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False
        self.replaced = False

    async def send(self, message: Message) -> None:
        if self.replaced:
            return
        if message["type"] == "http.response.start":
            self.started = True
            names = {bytes(n).lower() for n, _ in message.get("headers", ())}
            message["headers"] = [*message.get("headers", ()),
                                  *(h for h in SECURITY_HEADERS if h[0] not in names)]
        await self._send(message)

    async def refuse(self, error: CairnError) -> None:
        """Answer with an error instead of the app, unless the app's answer has begun."""
        if self.started or self.replaced:
            return
        status, headers, body = encode_error(error)
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})
        self.replaced = True


class HttpGuard:
    """The checks of the module docstring, in front of ``app``."""

    def __init__(self, app: ASGIApp, *, hosts: HostRule | None = None,
                 body_limit: int | BodyLimit = DEFAULT_BODY_LIMIT,
                 authenticate: Authenticate | None = None,
                 form_paths: Iterable[str] = ()) -> None:
        self.app = app
        self.hosts = hosts if hosts is not None else HostRule()
        self.body_limit = body_limit
        self.authenticate = authenticate
        self.form_paths = frozenset(form_paths)

    def limit_for(self, method: str, path: str) -> int:
        if callable(self.body_limit):
            return self.body_limit(method, path)
        return self.body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reply = _Reply(send)
        refusal = await self._refusal(scope)
        if refusal is not None:
            await reply.refuse(refusal)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        declared = _headers(scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await reply.refuse(too_large(limit, int(declared)))
            return
        counted = 0
        exceeded = False

        async def limited_receive() -> Message:
            nonlocal counted, exceeded
            if exceeded:
                raise too_large(limit)
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > limit:
                    exceeded = True
                    raise too_large(limit)
            return message

        async def guarded_send(message: Message) -> None:
            if exceeded:  # whatever the app made of the cut-off body, the answer is 413
                await reply.refuse(too_large(limit))
                return
            await reply.send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded:
            await reply.refuse(too_large(limit))

    async def _refusal(self, scope: Scope) -> CairnError | None:
        """Why the request may not reach the app, or None."""
        headers = _headers(scope)
        host = headers.get("host", "")
        server = scope.get("server")
        local = str(server[0]) if server else None
        if not self.hosts.allows(host, local):
            return InvalidInput(
                f"host not allowed: {host or '(none)'}",
                hint="start the server with --allowed-host NAME to answer to that name")
        if scope["method"] not in WRITE_METHODS:
            return None
        origin = headers.get("origin")
        if origin is not None and not _origin_matches(origin, host):
            return PermissionDenied(f"a write from another site ({origin}) is not allowed")
        if scope["path"] in self.form_paths:
            return None
        content_type = headers.get("content-type")
        plain = content_type is None or _media_type(content_type) in SIMPLE_TYPES
        if plain and "authorization" not in headers and CLIENT_HEADER not in headers:
            return PermissionDenied(
                "a write must send Authorization, X-Cairn-Client or a JSON Content-Type",
                hint="send the body with Content-Type: application/json")
        if self.authenticate is not None:
            return await self.authenticate(scope)
        return None


def too_large(limit: int, size: int | None = None) -> TooLarge:
    """The one refusal of a body over ``limit`` bytes (``size``, when it was declared)."""
    got = f"the request body is {human_size(size, 1024)}" if size is not None else (
        "the request body is larger")
    most = human_size(limit, 1024)
    return TooLarge(f"{got}, over this server's limit: it takes at most {most} here")
