"""Real servers on 127.0.0.1 for the tests: cairn's app under uvicorn, and moto's S3 server.

uvicorn runs in a thread of the test process (as httpx's own tests do), on a socket bound
by ``_http.launch.listen`` to a free port, so a test can stop it mid-transfer and start it
again on the same port.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from cairn._http.launch import listen
from cairn.project import Project
from cairn.server.app import create_app
from cairn.server.state import ServerState
from cairn.store.accounts import add_user, create_token, set_role
from cairn.store.core import open_store


class LiveServer:
    """``create_app(project)`` served by uvicorn on 127.0.0.1; ``stop()``/``start()`` again."""

    def __init__(self, project: Project, *, auth: bool = True, max_upload: int | None = None,
                 port: int = 0) -> None:
        self.project = project
        self.auth = auth
        self.max_upload = max_upload
        self.port = port
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None
        self.app: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state(self) -> ServerState:
        state = self.app.state.cairn
        assert isinstance(state, ServerState)
        return state

    def start(self) -> LiveServer:
        self.app = create_app(self.project, auth=self.auth, max_upload=self.max_upload)
        sock = listen("127.0.0.1", self.port)  # as cairn server binds it
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.server is not None and self.thread is not None:
            self.server.should_exit = True
            self.thread.join(timeout=20)
            self.server = None


def server_project(folder: Path) -> Project:
    store_dir = folder / ".cairn"
    (store_dir / "objects").mkdir(parents=True, exist_ok=True)
    (store_dir / "runs").mkdir(exist_ok=True)
    return Project(root=folder, store_dir=store_dir)


def make_token(project: Project, name: str, role: str = "writer", *,
               is_admin: bool = False) -> str:
    """An account with ``role`` in the project's own project, and a fresh token for it."""
    store = open_store(project)
    try:
        user, _ = add_user(store.db, name, is_admin=is_admin or None)
        set_role(store.db, store.project_id, user, role)
        return create_token(store.db, name)
    finally:
        store.close()


class S3Server:
    """moto's S3-compatible server on a free 127.0.0.1 port, with one bucket."""

    def __init__(self, bucket: str = "cairn-test") -> None:
        from moto.server import ThreadedMotoServer

        self.bucket = bucket
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        import boto3

        boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing",
                     ).create_bucket(Bucket=bucket)

    def stop(self) -> None:
        self._server.stop()
