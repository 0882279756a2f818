"""Running the prediction server under uvicorn, with one worker or several.

The reference is resolved once, before any worker starts, and pinned to its version number
(``churn@production`` -> ``churn@3``): every worker serves the same version even if the alias
moves while they start, and a moved alias takes effect at the next start.

With ``--workers N`` uvicorn binds the socket itself with protocol number 0, and asyncio only
sets ``TCP_NODELAY`` on accepted sockets whose protocol is TCP, so small answers would wait
for Nagle's algorithm (about 40 ms a request). The HTTP protocol class here sets
``TCP_NODELAY`` on every accepted connection, whatever the worker count.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from uvicorn.protocols.http.h11_impl import H11Protocol

from cairn.errors import Conflict, InvalidInput
from cairn.serving.protocols import DEFAULT_MAX_ROWS
from cairn.serving.state import ServeAuth
from cairn.settings import Env, Internal

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cairn.project import Project

ENV_REF = Internal.SERVE_REF
ENV_BATCH_SIZE = Internal.SERVE_BATCH_MAX_SIZE
ENV_BATCH_LATENCY = Internal.SERVE_BATCH_MAX_LATENCY_MS
ENV_NO_LOG = Internal.SERVE_NO_LOG
ENV_MAX_ROWS = Internal.SERVE_MAX_ROWS
ENV_AUTH = Internal.SERVE_AUTH


def _set_no_delay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class NoDelayH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, with Nagle's algorithm off on every accepted socket."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        _set_no_delay(transport)
        super().connection_made(transport)


@dataclass(frozen=True)
class ServeConfig:
    ref: str
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    batch_max_size: int | None = None
    batch_max_latency_ms: float | None = None
    log_predictions: bool = True
    max_rows: int = DEFAULT_MAX_ROWS
    auth: ServeAuth = field(default_factory=ServeAuth)


def pin_ref(project: Project, ref: str) -> tuple[str, str]:
    """``NAME@ALIAS`` -> (``NAME@N``, a description such as ``churn@3 (production)``)."""
    from cairn.models.registry import get_version, parse_ref
    from cairn.store.core import open_store

    store = open_store(project)
    try:
        name, selector = parse_ref(ref)
        mv = get_version(store, name, selector)
    finally:
        store.close()
    pinned = f"{mv.name}@{mv.version}"
    aliases = ", ".join(mv.aliases)
    return pinned, pinned + (f" ({aliases})" if aliases else "")


def check_port(host: str, port: int) -> None:
    """Refuse a busy or impossible address with one sentence, before uvicorn starts."""
    if not 0 < port < 65536:
        raise InvalidInput(f"--port must be between 1 and 65535, not {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(f"port {port} on {host} is already in use",
                               hint="stop the other server or pick another --port") from exc
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def run(project: Project, config: ServeConfig) -> None:
    """Serve until interrupted; a pinned ``config.ref`` is expected (see ``pin_ref``)."""
    import uvicorn

    _quiet_logging()
    common = {"host": config.host, "port": config.port, "http": NoDelayH11Protocol,
              "log_level": "warning", "access_log": False, "lifespan": "on",
              "timeout_graceful_shutdown": 10}
    if config.workers <= 1:
        from cairn.serving.app import create_serving_app

        app = create_serving_app(project, config.ref, batch_max_size=config.batch_max_size,
                                 batch_max_latency_ms=config.batch_max_latency_ms,
                                 log_predictions=config.log_predictions,
                                 max_rows=config.max_rows, auth=config.auth)
        uvicorn.Server(uvicorn.Config(app, **common)).run()  # type: ignore[arg-type]
        return
    os.environ[Env.DIR] = str(project.store_dir)
    os.environ[ENV_REF] = config.ref
    _set_env(ENV_BATCH_SIZE, config.batch_max_size)
    _set_env(ENV_BATCH_LATENCY, config.batch_max_latency_ms)
    _set_env(ENV_NO_LOG, None if config.log_predictions else 1)
    _set_env(ENV_MAX_ROWS, config.max_rows)
    _set_env(ENV_AUTH, ",".join(k for k in ("predictions", "feedback")
                                if getattr(config.auth, k)))
    uvicorn.run("cairn.serving.server:app_from_env", factory=True, workers=config.workers,
                **common)  # type: ignore[arg-type]


def app_from_env() -> FastAPI:
    """The app of one worker process, configured by the variables ``run`` set."""
    from cairn.project import require_project
    from cairn.serving.app import create_serving_app

    _quiet_logging()
    size = os.environ.get(ENV_BATCH_SIZE)
    latency = os.environ.get(ENV_BATCH_LATENCY)
    return create_serving_app(
        require_project(announce=False), os.environ[ENV_REF],
        batch_max_size=int(size) if size else None,
        batch_max_latency_ms=float(latency) if latency else None,
        log_predictions=not os.environ.get(ENV_NO_LOG),
        max_rows=int(os.environ.get(ENV_MAX_ROWS) or DEFAULT_MAX_ROWS),
        auth=ServeAuth(**{k: True for k in (os.environ.get(ENV_AUTH) or "").split(",") if k}),
    )


def _set_env(name: str, value: object) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


def _quiet_logging() -> None:
    """cairn's own warnings (log queue full, store refusing writes) go to stderr."""
    logger = logging.getLogger("cairn.serving")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
