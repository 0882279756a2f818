"""Attacks on the HTTP layer of ``cairn server`` and ``cairn serve``: bodies, hosts, origins.

Each test performs the attack against a real server on 127.0.0.1: ``cairn server`` and
``cairn serve`` as subprocesses (whose memory is read with psutil while a body streams in),
or the app under uvicorn in a thread, over a real SQLite store that is read back to check
that nothing a refused request sent was stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import psutil
import pytest

from cairn._http.guard import HostRule
from cairn.project import Project
from tests.server.live import LiveServer, make_token
from tests.server.test_server_cmd import cairn_server
from tests.serving.conftest import IrisProject, Server, iris  # noqa: F401  (iris: a fixture)

MiB = 1024 * 1024
ATTACK_BYTES = 300 * MiB
RSS_SLACK = 100 * MiB
JSON = {"Content-Type": "application/json"}


def chunked(total: int, chunk: bytes = b"[" * MiB) -> Iterator[bytes]:
    """``total`` bytes made lazily, so httpx sends them chunked and the test holds one MiB."""
    sent = 0
    while sent < total:
        yield chunk
        sent += len(chunk)


@contextmanager
def peak_rss(pid: int) -> Iterator[dict[str, int]]:
    """The process's resident memory before, and its peak while the block runs (sampled)."""
    proc = psutil.Process(pid)
    figures = {"before": proc.memory_info().rss, "peak": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            figures["peak"] = max(figures["peak"], proc.memory_info().rss)
            done.wait(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield figures
    finally:
        done.set()
        sampler.join()
        figures["peak"] = max(figures["peak"], proc.memory_info().rss)


def send_huge(url: str, method: str, path: str, total: int = ATTACK_BYTES,
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], float]:
    """Stream ``total`` bytes to ``path``; the status, the error body and the seconds taken."""
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=120) as client:
        reply = client.request(method, path, content=chunked(total),
                               headers={**JSON, **(headers or {})})
    return reply.status_code, reply.json()["error"], time.monotonic() - started


def run_count(project: Project) -> int:
    import sqlite3

    with sqlite3.connect(project.store_dir / "cairn.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])


# -- memory: bodies before authentication, and their size ------------------------------------
@pytest.mark.parametrize("path", ["/api/v1/runs", "/api/v1/objects/missing"])
def test_an_anonymous_chunked_body_is_refused_unread(server_dir: Project, path: str) -> None:
    make_token(server_dir, "ada", "admin", is_admin=True)
    with cairn_server(server_dir.root) as (url, proc), peak_rss(proc.pid) as rss:
        status, error, seconds = send_huge(url, "POST", path)
    grew = rss["peak"] - rss["before"]
    print(f"anonymous {ATTACK_BYTES // MiB} MiB chunked POST {path}: {status} in "
          f"{seconds:.1f} s, server RSS {rss['before'] // MiB} -> peak {rss['peak'] // MiB} MiB")
    assert status == 401 and error["code"] == "unauthenticated"
    assert grew < RSS_SLACK
    assert run_count(server_dir) == 0


def test_a_chunked_body_over_the_json_limit_gets_413_with_a_token(server_dir: Project) -> None:
    token = make_token(server_dir, "wes", "writer")
    with cairn_server(server_dir.root) as (url, proc), peak_rss(proc.pid) as rss:
        status, error, seconds = send_huge(url, "POST", "/api/v1/runs",
                                           headers={"Authorization": f"Bearer {token}"})
    grew = rss["peak"] - rss["before"]
    print(f"writer's {ATTACK_BYTES // MiB} MiB chunked POST /runs: {status} in {seconds:.1f} s,"
          f" server RSS +{grew // MiB} MiB at its peak")
    assert status == 413 and error["code"] == "too_large" and "16.0 MiB" in error["message"]
    assert grew < RSS_SLACK
    assert run_count(server_dir) == 0


def test_a_chunked_bundle_over_the_cap_gets_413(server_dir: Project) -> None:
    token = make_token(server_dir, "wes", "writer")
    total = 300 * MiB  # the cap is 256 MiB; before, a chunked bundle was read whole, then 400
    with cairn_server(server_dir.root) as (url, proc), peak_rss(proc.pid) as rss:
        status, error, seconds = send_huge(url, "PUT", f"/api/v1/runs/{'a' * 32}/bundle",
                                           total, {"Authorization": f"Bearer {token}"})
    grew = rss["peak"] - rss["before"]
    print(f"{total // MiB} MiB chunked bundle: {status} in {seconds:.1f} s, server RSS "
          f"+{grew // MiB} MiB at its peak (the cap is 256 MiB)")
    assert status == 413 and error["code"] == "too_large" and "256.0 MiB" in error["message"]
    assert grew < 3 * 256 * MiB  # a small multiple of the cap, never the whole body
    assert run_count(server_dir) == 0


def test_cairn_serve_refuses_a_huge_chunked_body_while_it_streams(iris: IrisProject) -> None:  # noqa: F811
    server = Server(iris.root, "iris@production")
    try:
        with peak_rss(server.proc.pid) as rss:
            status, error, seconds = send_huge(server.url, "POST", "/predict")
        grew = rss["peak"] - rss["before"]
        print(f"{ATTACK_BYTES // MiB} MiB chunked POST /predict: {status} in {seconds:.1f} s,"
              f" cairn serve RSS +{grew // MiB} MiB at its peak")
        assert status == 413 and error["code"] == "too_large"
        assert grew < RSS_SLACK
        evil = server.get("/v2/health/ready", headers={"Host": "evil.example"})
        assert evil.status_code == 400 and "host not allowed" in evil.json()["error"]["message"]
        blind = server.post("/feedback", content=b'{"prediction_id": "p_1", "label": 1}')
        assert blind.status_code == 403  # a form post from another site, type and all
        ready = server.get("/v2/health/ready")
        assert ready.status_code == 200 and ready.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in ready.headers["content-security-policy"]
    finally:
        server.stop()


# -- DNS rebinding and cross-site writes on a --no-auth server -------------------------------
@pytest.fixture
def open_server(server_dir: Project) -> Iterator[str]:
    """``cairn server --no-auth`` on 127.0.0.1, with one run made by cairn's own kind of call."""
    with cairn_server(server_dir.root, "--no-auth") as (url, _proc):
        made = httpx.post(f"{url}/api/v1/runs", json={"name": "mine"})
        assert made.status_code == 201
        yield url


def test_a_foreign_host_name_is_refused(open_server: str) -> None:
    port = open_server.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", ""):
        reply = httpx.get(f"{open_server}/api/v1/runs", headers={"Host": host})
        assert reply.status_code == 400, host
        assert reply.json()["error"]["message"].startswith("host not allowed")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
        assert httpx.get(f"{open_server}/api/v1/runs", headers={"Host": host}).status_code == 200


def test_a_listed_host_is_answered_and_others_are_not(server_dir: Project) -> None:
    with cairn_server(server_dir.root, "--no-auth", "--allowed-host", "cairn.internal") as (
            url, _proc):
        assert httpx.get(f"{url}/api/v1/runs", headers={"Host": "cairn.internal"}
                         ).status_code == 200
        assert httpx.get(f"{url}/api/v1/runs", headers={"Host": "evil.example"}
                         ).status_code == 400


def heartbeat_of(project: Project) -> object:
    import sqlite3

    with sqlite3.connect(project.store_dir / "cairn.db") as conn:
        return conn.execute("SELECT heartbeat_at FROM runs WHERE number = 1").fetchone()[0]


def test_a_bodyless_cross_site_post_is_refused(open_server: str, server_dir: Project) -> None:
    before = heartbeat_of(server_dir)
    time.sleep(0.01)
    for headers in ({}, {"Content-Type": "text/plain"},
                    {"Content-Type": "application/x-www-form-urlencoded"}):
        reply = httpx.post(f"{open_server}/api/v1/runs/1/heartbeat", headers=headers)
        assert reply.status_code == 403, headers
        assert reply.json()["error"]["code"] == "permission_denied"
    assert heartbeat_of(server_dir) == before
    ours = httpx.post(f"{open_server}/api/v1/runs/1/heartbeat", headers={"X-Cairn-Client": "1"})
    assert ours.status_code == 204 and heartbeat_of(server_dir) != before


def test_a_write_from_another_origin_is_refused(open_server: str) -> None:
    evil = httpx.post(f"{open_server}/api/v1/runs", json={"name": "planted"},
                      headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "another site" in evil.json()["error"]["message"]
    null = httpx.post(f"{open_server}/api/v1/runs", json={"name": "planted"},
                      headers={"Origin": "null"})
    assert null.status_code == 403
    names = [r["name"] for r in httpx.get(f"{open_server}/api/v1/runs").json()["runs"]]
    assert names == ["mine"]
    same = httpx.post(f"{open_server}/api/v1/runs", json={"name": "same"},
                      headers={"Origin": open_server})
    assert same.status_code == 201


# -- browser hardening ------------------------------------------------------------------------
def test_every_reply_carries_the_browser_headers(open_server: str) -> None:
    replies = [httpx.get(f"{open_server}/runs"), httpx.get(f"{open_server}/api/v1/runs"),
               httpx.get(f"{open_server}/api/v1/nothing"),
               httpx.get(f"{open_server}/static/htmx.min.js"),
               httpx.get(f"{open_server}/api/v1/runs", headers={"Host": "evil.example"})]
    assert [r.status_code for r in replies] == [200, 200, 404, 200, 400]
    for reply in replies:
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.headers["x-frame-options"] == "DENY"
        policy = reply.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy


def csrf_field(page: httpx.Response) -> str:
    return page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_signing_in_needs_the_forms_csrf_token(start_server: Callable[..., LiveServer],
                                               server_dir: Project) -> None:
    token = make_token(server_dir, "rita", "reader")
    live = start_server()
    with httpx.Client(base_url=live.url) as browser:
        forged = browser.post("/login", data={"token": token})
        assert forged.status_code == 403 and "cairn_session" not in forged.headers.get(
            "set-cookie", "")
        # A value of the attacker's own, without this browser's cookie to match it.
        with httpx.Client(base_url=live.url) as attacker:
            planted = csrf_field(attacker.get("/login"))
        assert browser.post("/login", data={"token": token, "csrf": planted}
                            ).status_code == 403
        signed = browser.post("/login", data={"token": token,
                                              "csrf": csrf_field(browser.get("/login"))})
        assert signed.status_code == 303 and "cairn_session=" in signed.headers["set-cookie"]


def test_host_rules_for_each_kind_of_bind() -> None:
    loopback, lan, anywhere = HostRule("127.0.0.1"), HostRule("10.1.2.3"), HostRule("0.0.0.0")
    assert loopback.allows("localhost:5005", "127.0.0.1")
    assert not loopback.allows("evil.example", "127.0.0.1")
    assert lan.allows("10.1.2.3:5005", "10.1.2.3") and not lan.allows("evil.example", "10.1.2.3")
    assert anywhere.allows("team.example", "10.1.2.3")
    assert not anywhere.allows("evil.example", "127.0.0.1")  # rebinding to the loopback
    listed = HostRule("0.0.0.0", ("cairn.team",))
    assert listed.allows("cairn.team", "10.1.2.3") and not listed.allows("x.example", "10.1.2.3")
