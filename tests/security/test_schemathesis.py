"""Schema-driven attack on the REST API: generated requests never get a 5xx, and every status
the server sends is one the OpenAPI document declares.

schemathesis reads ``/api/v1/openapi.json`` of a real ``cairn server`` (uvicorn on 127.0.0.1,
a real SQLite file holding a few runs) and sends what the schema allows and what it does not.
The seed and the number of examples are fixed so the run takes a minute or two and repeats.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error, status_code_conformance  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402

from tests.server.live import LiveServer, server_project  # noqa: E402

EXAMPLES = 100


@pytest.fixture
def live_schema(tmp_path: Path) -> Iterator[Any]:
    project = server_project(tmp_path / "server")
    live = LiveServer(project, auth=False).start()
    import httpx

    with httpx.Client(base_url=f"{live.url}/api/v1", timeout=30) as c:
        for n in range(3):
            c.post("/runs", json={"name": f"run{n}", "params": {"lr": n}, "tags": {"t": "x"}})
        c.post("/runs/1/metrics", json={"metrics": [{"key": "loss", "value": 0.5, "step": 1},
                                                    {"key": "loss", "value": 0.4, "step": 2}]})
    try:
        yield schemathesis.openapi.from_url(f"{live.url}/api/v1/openapi.json")
    finally:
        live.stop()


def _attack(operation: Any, failures: list[str], tried: list[int]) -> None:
    """Send ``EXAMPLES`` generated requests to one operation, collecting what fails."""
    name = f"{operation.method.upper()} {operation.path}"

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def attack(case: Any) -> None:
        tried.append(1)
        try:
            case.call_and_validate(checks=[not_a_server_error, status_code_conformance])
        except (AssertionError, FailureGroup) as exc:
            failures.append(f"{name}: {exc}"[:400])

    attack()


def test_api_never_fails_with_a_server_error(live_schema: Any) -> None:
    failures: list[str] = []
    tried: list[int] = []
    for result in live_schema.get_all_operations():
        _attack(result.ok(), failures, tried)
    assert len(tried) > 1000
    assert not failures, "\n".join(dict.fromkeys(failures))
