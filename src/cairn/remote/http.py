"""A cairn server as a remote, over its REST API (``/api/v1``) with httpx.

One client with a pool of keep-alive connections is shared by the upload threads (httpx
clients are thread-safe). Small objects go up as one body; larger ones are streamed from
their file with a declared length, so neither side holds them in memory. The server's errors
come back as the matching ``CairnError``, prefixed with the remote's name.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlsplit

from cairn.errors import (
    Ambiguous,
    CairnError,
    Conflict,
    Corrupt,
    InvalidInput,
    MissingExtra,
    NotFound,
    PermissionDenied,
    StoreUnavailable,
)
from cairn.objects.local import LocalObjectStore
from cairn.remote.base import file_chunks, object_size, store_verified

try:
    import httpx
except ImportError:  # pragma: no cover - httpx comes with the server extra
    httpx = None  # type: ignore[assignment]

MISSING_BATCH = 1000
STREAM_FROM = 1024 * 1024  # bodies up to this size are sent in one piece
_ERRORS: dict[str, type[CairnError]] = {
    "not_found": NotFound, "ambiguous": Ambiguous, "invalid_input": InvalidInput,
    "invalid_filter": InvalidInput, "conflict": Conflict, "corrupt": Corrupt,
    "permission_denied": PermissionDenied, "too_large": InvalidInput,
}


class HttpRemote:
    def __init__(self, name: str, url: str, *, token: str | None = None,
                 timeout: float = 60.0, connections: int = 16) -> None:
        if httpx is None:
            raise MissingExtra("httpx", "server")
        parts = urlsplit(url)
        self.name = name
        self.url = url
        self.project = parse_qs(parts.query).get("project", [None])[0]
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/api/v1"
        # A header no web page can send cross-site without asking: the servers refuse writes
        # that lack it (or a token, or a JSON type), so a page cannot post on a user's behalf.
        headers = {"X-Cairn-Client": "1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(
            base_url=base, headers=headers, timeout=httpx.Timeout(timeout, connect=10.0),
            limits=httpx.Limits(max_connections=connections,
                                max_keepalive_connections=connections),
        )
        self._info: dict[str, Any] | None = None
        self._info_lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    # -- plumbing ------------------------------------------------------------------------------
    def _params(self, **extra: Any) -> dict[str, Any]:
        params = {k: v for k, v in extra.items() if v is not None}
        if self.project:
            params["project"] = self.project
        return params

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs["params"] = self._params(**kwargs.get("params", {}))
        try:
            reply = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise StoreUnavailable(
                f"cannot reach the remote {self.name} at {self.url}: {exc or type(exc).__name__}",
                hint="is the server running? (cairn server) Pushing again sends only what "
                     "is still missing",
            ) from exc
        if reply.status_code >= 400:
            self._fail(reply)
        return reply

    def _fail(self, reply: httpx.Response) -> NoReturn:
        try:
            error = reply.json()["error"]
            code, message = str(error["code"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "error", reply.text[:200] or reply.reason_phrase
        prefix = f"the remote {self.name} says: "
        if reply.status_code == 401:
            raise PermissionDenied(prefix + message, hint=f"cairn login {self.name}")
        cls = _ERRORS.get(code)
        if cls is None:
            raise StoreUnavailable(f"{prefix}{message} (HTTP {reply.status_code})")
        raise cls(prefix + message)

    # -- the protocol --------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        with self._info_lock:  # asked once, by the first of the upload threads
            if self._info is None:
                self._info = dict(self.request("GET", "/server").json())
            return self._info

    def whoami(self) -> dict[str, Any]:
        return dict(self.request("GET", "/whoami").json())

    def missing(self, oids: list[str]) -> list[str]:
        out: list[str] = []
        for start in range(0, len(oids), MISSING_BATCH):
            batch = oids[start:start + MISSING_BATCH]
            out.extend(self.request("POST", "/objects/missing", json={"oids": batch})
                       .json()["missing"])
        return out

    def put_object(self, oid: str, local: LocalObjectStore) -> int:
        size = object_size(local, oid)
        limit = self.info().get("max_upload")
        if isinstance(limit, int) and size > limit:
            raise InvalidInput(f"object {oid} is {size} bytes; the remote {self.name} takes at "
                               f"most {limit} per object")
        path = local.path_for(oid)
        headers = {"Content-Type": "application/octet-stream"}
        if size <= STREAM_FROM:
            self.request("PUT", f"/objects/{oid}", content=path.read_bytes(), headers=headers)
        else:
            headers["Content-Length"] = str(size)
            self.request("PUT", f"/objects/{oid}", content=file_chunks(path), headers=headers)
        return size

    def get_object(self, oid: str, local: LocalObjectStore) -> int:
        kwargs: dict[str, Any] = {"params": self._params()}
        try:
            with self._client.stream("GET", f"/objects/{oid}", **kwargs) as reply:
                if reply.status_code >= 400:
                    reply.read()
                    self._fail(reply)
                return store_verified(local, oid, _chunks(reply))
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"cannot reach the remote {self.name} at {self.url}: "
                                   f"{exc or type(exc).__name__}") from exc

    def put_bundle(self, run_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(doc, separators=(",", ":"), allow_nan=True).encode()
        reply = self.request("PUT", f"/runs/{run_id}/bundle", content=body,
                             headers={"Content-Type": "application/json"})
        return dict(reply.json())

    def get_bundle(self, run_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/runs/{run_id}/bundle").json())

    def resolve(self, ref: str) -> dict[str, Any]:
        return dict(self.request("GET", "/runs/resolve", params={"ref": ref}).json())


def _chunks(reply: httpx.Response) -> Iterator[bytes]:
    yield from reply.iter_bytes(1024 * 1024)
