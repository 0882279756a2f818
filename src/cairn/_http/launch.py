"""Starting uvicorn for both servers: one listening socket, one worker or several, and one way
to hand each worker its application's configuration.

The socket is bound here, with protocol ``IPPROTO_TCP``, whatever the number of workers:
asyncio sets ``TCP_NODELAY`` on an accepted connection only when the listening socket says
TCP, and the socket uvicorn binds for several workers says 0, which left every small reply
waiting about 40 ms for Nagle's algorithm. Binding before anything is loaded also makes a
busy port one sentence (``Conflict``) rather than a log line after a model has loaded.

An application is named by an ``AppSpec``: its factory (``"package.module:function"``,
called with the spec's JSON ``config`` and its ``HostRule``) and those two values. With one
worker the factory is called here; with several, every worker process reads the spec from
``CAIRN_HTTP_APP`` and calls it. Both paths take the spec through JSON, so a value that would
not reach a worker does not reach a single-process server either.
"""

from __future__ import annotations

import errno
import json
import os
import socket
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any

from cairn._http.guard import ASGIApp, HostRule
from cairn.errors import CairnError, Conflict, InvalidInput
from cairn.settings import Internal

ENV_APP = Internal.HTTP_APP


@dataclass(frozen=True)
class AppSpec:
    """Which application a server runs, and with what (JSON values only)."""

    factory: str
    config: dict[str, Any] = field(default_factory=dict)
    hosts: HostRule = field(default_factory=HostRule)

    def to_json(self) -> str:
        return json.dumps({"factory": self.factory, "config": self.config,
                           "hosts": {"bind": self.hosts.bind,
                                     "allowed": list(self.hosts.allowed)}})

    @classmethod
    def from_json(cls, text: str) -> AppSpec:
        data = json.loads(text)
        hosts = HostRule(bind=data["hosts"]["bind"], allowed=tuple(data["hosts"]["allowed"]))
        return cls(factory=data["factory"], config=data["config"], hosts=hosts)

    def build(self) -> ASGIApp:
        module, _, name = self.factory.partition(":")
        app: ASGIApp = getattr(import_module(module), name)(self.config, self.hosts)
        return app


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` for uvicorn to listen on, or one sentence why not."""
    if not 0 <= port < 65536:
        raise InvalidInput(f"--port must be between 0 (any free port) and 65535, not {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(f"port {port} on {host} is already in use",
                           hint="stop the other server or pick another --port") from exc
        raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(True)
    return sock


def serve(spec: AppSpec, sock: socket.socket, *, workers: int = 1, **options: Any) -> None:
    """Serve ``spec`` on ``sock`` until interrupted; ``options`` go to ``uvicorn.Config``."""
    import uvicorn

    spec = AppSpec.from_json(spec.to_json())
    host, port = sock.getsockname()[:2]
    options = {"host": host, "port": port, **options}
    if workers <= 1:
        server = uvicorn.Server(uvicorn.Config(spec.build(), **options))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down for
            pass
        if not server.started:
            raise CairnError("the server did not start; the messages above say why")
        return
    from uvicorn.supervisors import Multiprocess

    os.environ[ENV_APP] = spec.to_json()
    config = uvicorn.Config(f"{__name__}:worker_app", factory=True, workers=workers, **options)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass


def worker_app() -> ASGIApp:
    """The application of one worker process started by ``serve``."""
    text = os.environ.get(ENV_APP)
    if not text:
        raise InvalidInput(f"{ENV_APP} names no application; start workers with cairn server "
                           "or cairn serve")
    return AppSpec.from_json(text).build()
