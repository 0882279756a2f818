"""Real model servers for the serving tests.

A project is made once per module: ``cairn run -- python train.py`` fits a scikit-learn
LogisticRegression on iris and logs it with ``cairn.log_model``; ``cairn model register`` and
``cairn model alias`` make it ``iris@production``. ``Server`` starts ``cairn serve`` as a
subprocess on a free port of 127.0.0.1 and waits until it answers.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import PYTHON

TRAIN = textwrap.dedent("""
    import json, sys
    import cairn
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    C = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    X, y = load_iris(return_X_y=True, as_frame=True)
    X.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    model = LogisticRegression(C=C, max_iter=1000).fit(X, y)
    cairn.log_params({"C": C})
    cairn.log_model(model, "model", example=X[:5], profile_data=X)
    with open("rows.json", "w") as fh:
        json.dump({"columns": list(X.columns), "rows": X.to_numpy().tolist(),
                   "labels": y.tolist()}, fh)
""")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(COLUMNS="200", PYTHONUNBUFFERED="1", **extra)
    return env


def cli(root: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PYTHON, "-m", "cairn", *args], cwd=root, env=clean_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, f"{done.args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def train_and_register(root: Path, name: str = "iris", c: float = 1.0) -> int:
    """Train, log and register a model; answers the new version number."""
    ok(cli(root, "run", "--", PYTHON, "train.py", str(c)))
    runs = json.loads(ok(cli(root, "ls", "--json")))
    out = ok(cli(root, "model", "register", f"{runs[0]['number']}:model", "--name", name))
    return int(out.split("version")[1].split()[0])


@dataclass
class IrisProject:
    root: Path
    columns: list[str]
    rows: list[list[float]]
    labels: list[int]


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> IrisProject:
    root = tmp_path_factory.mktemp("iris")
    (root / "train.py").write_text(TRAIN)
    ok(cli(root, "init"))
    assert train_and_register(root) == 1
    ok(cli(root, "model", "alias", "iris@1", "production"))
    data = json.loads((root / "rows.json").read_text())
    return IrisProject(root, data["columns"], data["rows"], data["labels"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``cairn serve`` in a subprocess, with an HTTP client bound to it."""

    def __init__(self, root: Path, ref: str, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "cairn", "serve", ref, "--port", str(self.port), *args],
            cwd=root, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        self.client = httpx.Client(base_url=self.url, timeout=60)
        self.output = ""
        self._wait_ready()

    def _wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                pytest.fail(f"cairn serve exited with {self.proc.returncode}:\n{out}\n{err}")
            try:
                if self.client.get("/v2/health/ready").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        pytest.fail(f"cairn serve did not answer within {timeout}s:\n{self.output}")

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.get(path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.client.post(path, **kw)

    def alive(self) -> bool:
        return self.proc.poll() is None and self.get("/ping").status_code == 200

    def stop(self) -> str:
        """Interrupt like Ctrl-C, wait for the clean shutdown, return its stderr."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        out, err = self.proc.communicate()
        self.output = out + err
        return self.output


@pytest.fixture(scope="module")
def server(iris: IrisProject) -> Iterator[Server]:
    srv = Server(iris.root, "iris@production")
    yield srv
    srv.stop()


def logged(root: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of the project's prediction log, read straight from its SQLite file."""
    import sqlite3

    with sqlite3.connect(root / ".cairn" / "cairn.db") as conn:
        return conn.execute(sql, params).fetchall()


def wait_for(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout}s")
        time.sleep(0.1)

