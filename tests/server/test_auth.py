"""Accounts: tokens shown once and stored hashed, 401 without one, roles, who wrote what."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import httpx

from cairn.objects.hashing import hash_bytes
from cairn.project import Project
from cairn.store.accounts import audit_entries
from cairn.store.core import open_store
from tests.conftest import cairn_cli
from tests.server.live import LiveServer

Api = Callable[..., httpx.Client]


def test_without_a_token_the_server_answers_401(live: LiveServer, tokens: dict[str, str]) -> None:
    for reply in (httpx.get(f"{live.url}/api/v1/runs"),
                  httpx.post(f"{live.url}/api/v1/runs", json={}),
                  httpx.get(f"{live.url}/api/v1/runs",
                            headers={"Authorization": "Bearer cairn_wrong"})):
        assert reply.status_code == 401
        assert reply.headers["www-authenticate"] == "Bearer"
        assert reply.json()["error"]["code"] == "unauthenticated"


def test_a_reader_is_refused_every_write_and_nothing_is_written(api: Api,
                                                                live: LiveServer) -> None:
    reader = api("reader")
    data = b"some bytes"
    oid = hash_bytes(data)
    replies = [
        reader.post("/runs", json={"name": "nope"}),
        reader.put(f"/objects/{oid}", content=data),
        reader.put("/runs/" + "0" * 32 + "/bundle", json={"cairn-bundle": 1}),
    ]
    for reply in replies:
        assert reply.status_code == 403, reply.text
        error = reply.json()["error"]
        assert error["code"] == "permission_denied"
        assert "rita is a reader" in error["message"] and "writer" in error["message"]
    assert reader.get("/runs").json()["runs"] == []
    assert not live.state.objects.has(oid)
    assert reader.get("/runs").status_code == 200


def test_writes_record_who_made_them(api: Api, server_dir: Project) -> None:
    writer = api("writer")
    run = writer.post("/runs", json={"name": "x"}).json()
    writer.post(f"/runs/{run['id']}/metrics", json={"metrics": [{"key": "a", "value": 1}]})
    writer.post(f"/runs/{run['id']}/tags", json={"tags": {"k": "v"}})
    store = open_store(server_dir)
    entries = audit_entries(store.db)
    store.close()
    assert [(user, action) for _at, user, action, _target in reversed(entries)] == [
        ("wes", "run.create"), ("wes", "metrics.log"), ("wes", "tags.set")]
    assert all(target and target.startswith(run["id"]) for *_, target in entries)


def test_tokens_are_shown_once_and_stored_hashed(server_dir: Project,
                                                 start_server: Callable[..., LiveServer]) -> None:
    added = cairn_cli("server", "user", "add", "bob", "--role", "reader", cwd=server_dir.root)
    assert added.returncode == 0, added.stderr
    assert "reader of project" in added.stdout
    made = cairn_cli("server", "token", "create", "bob", cwd=server_dir.root)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("cairn_") and len(token) > 40
    assert "cannot be shown again" in made.stderr

    db_bytes = b"".join(p.read_bytes() for p in server_dir.store_dir.glob("cairn.db*"))
    assert token.encode() not in db_bytes
    assert hashlib.sha256(token.encode()).hexdigest().encode() in db_bytes

    live = start_server()
    who = httpx.get(f"{live.url}/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert who.json()["user"] == "bob" and who.json()["role"] == "reader"


def test_account_commands_explain_bad_input(server_dir: Project) -> None:
    bad = cairn_cli("server", "user", "add", "not a name", cwd=server_dir.root)
    assert bad.returncode == 2 and "not a usable user name" in bad.stderr
    assert "Traceback" not in bad.stderr
    missing = cairn_cli("server", "token", "create", "ghost", cwd=server_dir.root)
    assert missing.returncode == 2 and "no user named 'ghost'" in missing.stderr


def test_no_auth_only_on_localhost(server_dir: Project) -> None:
    refused = cairn_cli("server", "--no-auth", "--host", "0.0.0.0", cwd=server_dir.root)
    assert refused.returncode == 2
    assert "--no-auth is only allowed on localhost" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_no_auth_server_acts_as_the_local_user(
    start_server: Callable[..., LiveServer],
) -> None:
    live = start_server(auth=False)
    made = httpx.post(f"{live.url}/api/v1/runs", json={"name": "mine"})
    assert made.status_code == 201
    assert made.json()["created_by"] == live.state.local_user


def test_login_page_sets_the_cookie_for_a_valid_token(live: LiveServer,
                                                     tokens: dict[str, str]) -> None:
    def csrf(page: httpx.Response) -> str:  # the sign-in form's hidden CSRF field
        return page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]

    with httpx.Client(base_url=live.url) as browser:
        bad = browser.post("/login", data={"token": "cairn_nope",
                                           "csrf": csrf(browser.get("/login"))})
        assert bad.status_code == 401 and "not valid" in bad.text
        good = browser.post("/login", data={"token": tokens["reader"], "csrf": csrf(bad)})
        assert good.status_code == 303
        cookie = good.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert browser.get("/api/v1/whoami").json()["user"] == "rita"


def test_a_browser_without_a_token_is_sent_to_the_login_page(live: LiveServer) -> None:
    page = httpx.get(f"{live.url}/", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"] == "/login"
    login = httpx.get(f"{live.url}/login")
    assert login.status_code == 200 and 'name="token"' in login.text
    api_call = httpx.get(f"{live.url}/api/v1/runs", headers={"Accept": "text/html"})
    assert api_call.status_code == 401  # the API never redirects
