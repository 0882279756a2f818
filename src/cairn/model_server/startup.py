"""Running the prediction server under uvicorn, with one worker or several.

The reference is resolved once, before any worker starts, and pinned to its version number
(``churn@production`` -> ``churn@3``): every worker serves the same version even if the alias
moves while they start, and a moved alias takes effect at the next start. Sockets, workers
and ``TCP_NODELAY`` are the HTTP layer's (``_http.launch``), shared with ``cairn server``.
"""

from __future__ import annotations

import logging
import socket
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cairn._http.guard import HostRule
from cairn._http.launch import AppSpec, serve
from cairn.model_server.protocols import DEFAULT_MAX_ROWS
from cairn.model_server.state import ServeAuth
from cairn.project import Project

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cairn.project import Project


@dataclass(frozen=True)
class ServeConfig:
    """What each worker needs to serve a pinned model version (JSON, see ``serve_spec``)."""

    ref: str
    batch_max_size: int | None = None
    batch_max_latency_ms: float | None = None
    log_predictions: bool = True
    max_rows: int = DEFAULT_MAX_ROWS
    auth: ServeAuth = field(default_factory=ServeAuth)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ServeConfig:
        return cls(**{**data, "auth": ServeAuth(**data["auth"])})


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


def run(project: Project, config: ServeConfig, sock: socket.socket, *, workers: int = 1,
        hosts: HostRule | None = None) -> None:
    """Serve on ``sock`` until interrupted; ``config.ref`` is pinned (see ``pin_ref``)."""
    _quiet_logging()
    serve(serve_spec(project, config, hosts or HostRule()), sock, workers=workers,
          log_level="warning", access_log=False, lifespan="on", timeout_graceful_shutdown=10)


def serve_spec(project: Project, config: ServeConfig, hosts: HostRule) -> AppSpec:
    return AppSpec(f"{__name__}:app_from_config", hosts=hosts, config={
        "root": str(project.root), "store_dir": str(project.store_dir), "serve": asdict(config)})


def app_from_config(config: dict[str, Any], hosts: HostRule) -> FastAPI:
    """The app of one worker process, made from ``serve_spec``."""
    from cairn.model_server.app import create_serving_app

    _quiet_logging()
    project = Project(root=Path(config["root"]), store_dir=Path(config["store_dir"]))
    served = ServeConfig.from_json(config["serve"])
    return create_serving_app(
        project, served.ref, batch_max_size=served.batch_max_size,
        batch_max_latency_ms=served.batch_max_latency_ms,
        log_predictions=served.log_predictions, max_rows=served.max_rows, auth=served.auth,
        hosts=hosts)


def _quiet_logging() -> None:
    """cairn's own warnings (log queue full, store refusing writes) go to stderr."""
    logger = logging.getLogger("cairn.model_server")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
