"""How both servers start (``_http.launch``): the socket, ``TCP_NODELAY``, and the one way an
application's configuration reaches a worker process."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from typing import Any

import httpx
import pytest

from cairn._http.guard import HostRule
from cairn._http.launch import ENV_APP, AppSpec, listen, worker_app
from cairn.errors import Conflict
from cairn.project import Project
from tests.server.test_server_cmd import cairn_server


def test_accepted_connections_have_nagle_off_whoever_serves_the_socket() -> None:
    """uvicorn hands the socket to asyncio, which sets TCP_NODELAY on what it accepts only when
    the listening socket says TCP; a socket uvicorn binds for several workers says 0."""
    seen: list[int] = []

    async def go() -> None:
        sock = listen("127.0.0.1", 0)
        accepted = asyncio.Event()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                peer = transport.get_extra_info("socket")
                seen.append(peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                accepted.set()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _reader, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        await asyncio.wait_for(accepted.wait(), 10)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(go())
    assert seen == [1]


def test_a_busy_port_is_one_sentence() -> None:
    held = listen("127.0.0.1", 0)
    held.listen()
    try:
        with pytest.raises(Conflict, match="is already in use"):
            listen("127.0.0.1", held.getsockname()[1])
    finally:
        held.close()


def made(config: dict[str, Any], hosts: HostRule) -> dict[str, Any]:
    """A factory for the spec tests: answers what it was given."""
    return {"config": config, "hosts": hosts}


def test_a_worker_builds_the_application_from_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = AppSpec(f"{__name__}:made", config={"store": "/x/.cairn", "auth": False, "n": None},
                   hosts=HostRule(bind="0.0.0.0", allowed=("cairn.example",)))
    assert AppSpec.from_json(spec.to_json()) == spec
    monkeypatch.setenv(ENV_APP, spec.to_json())
    assert worker_app() == {"config": spec.config, "hosts": spec.hosts}


def test_several_workers_answer_small_requests_without_nagle_delay(server_dir: Project) -> None:
    """With Nagle on, each small reply of a worker waited for the client's delayed ACK
    (about 40 ms on Linux)."""
    with cairn_server(server_dir.root, "--workers", "2", "--no-auth") as (url, _proc), \
            httpx.Client(base_url=f"{url}/api/v1", timeout=30) as client:
        client.get("/server")
        times = []
        for _ in range(30):
            started = time.perf_counter()
            assert client.post("/runs", json={"name": "quick"}).status_code == 201
            times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.030, times
