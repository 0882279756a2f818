"""Attacks with tokens that should have stopped working, and with browser cookies.

A leaked token is revoked, a contractor's token expires, a user leaves or loses a role: each
must be refused on the very next request to a running server (the server was started before
the change, by another process: the change is made with the real ``cairn server`` commands).
The browser's cookie holds a session, never the API token, and signing out ends it on the
server, so a copied cookie is worthless afterwards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from cairn._util.ids import now_ms
from cairn.project import Project
from cairn.store.accounts import create_token, list_tokens
from cairn.store.core import open_store
from tests.conftest import cairn_cli
from tests.server.live import LiveServer

Api = Callable[..., httpx.Client]


def cli_ok(project: Project, *args: str) -> str:
    done = cairn_cli("server", *args, cwd=project.root)
    assert done.returncode == 0, done.stderr
    return done.stdout


def cli_fails(project: Project, *args: str) -> str:
    done = cairn_cli("server", *args, cwd=project.root)
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    return done.stderr


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_of(page: httpx.Response) -> str:
    return page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def sign_in(browser: httpx.Client, token: str) -> httpx.Response:
    return browser.post("/login", data={"token": token, "csrf": csrf_of(browser.get("/login"))})


def token_rows(project: Project) -> list[dict[str, object]]:
    rows = json.loads(cli_ok(project, "token", "ls", "--json"))
    assert isinstance(rows, list)
    return rows


# -- revoke ------------------------------------------------------------------------------------
def test_a_revoked_token_is_refused_on_its_next_request(live: LiveServer, server_dir: Project,
                                                        tokens: dict[str, str]) -> None:
    leaked = tokens["writer"]
    with httpx.Client(base_url=f"{live.url}/api/v1", headers=bearer(leaked)) as thief:
        assert thief.get("/runs").status_code == 200
        assert thief.post("/runs", json={"name": "before"}).status_code == 201
        wes = [r for r in token_rows(server_dir) if r["user"] == "wes"]
        assert [r["status"] for r in wes] == ["active"]
        said = cli_ok(server_dir, "token", "revoke", str(wes[0]["id"])[:8])
        assert "revoked token" in said and "wes" in said

        for reply in (thief.get("/runs"), thief.post("/runs", json={"name": "after"})):
            assert reply.status_code == 401, reply.text
            assert "revoked" in reply.json()["error"]["message"]
    with httpx.Client(base_url=f"{live.url}/api/v1", headers=bearer(tokens["admin"])) as admin:
        names = [r["name"] for r in admin.get("/runs").json()["runs"]]
    assert names == ["before"]  # the refused write left nothing; the earlier one is kept
    assert [r["status"] for r in token_rows(server_dir) if r["user"] == "wes"] == ["revoked"]


def test_revoke_by_token_text_by_user_and_twice(live: LiveServer, server_dir: Project,
                                                tokens: dict[str, str]) -> None:
    second = cli_ok(server_dir, "token", "create", "rita", "--label", "laptop").strip()
    cli_ok(server_dir, "token", "revoke", tokens["admin"])  # the leaked text itself
    assert httpx.get(f"{live.url}/api/v1/runs", headers=bearer(tokens["admin"])).status_code == 401
    said = cli_ok(server_dir, "token", "revoke", "--user", "rita")
    assert said.count("revoked token") == 2 and "(laptop)" in said
    for token in (tokens["reader"], second):
        assert httpx.get(f"{live.url}/api/v1/runs", headers=bearer(token)).status_code == 401
    assert httpx.get(f"{live.url}/api/v1/runs",
                     headers=bearer(tokens["writer"])).status_code == 200  # others untouched
    again = cli_ok(server_dir, "token", "revoke", tokens["admin"])
    assert "already revoked" in again


@pytest.mark.parametrize("ref", ["0", "xyz123", "cairn_not-a-token", "ffffffffff"])
def test_revoking_what_is_not_a_token_says_so_and_changes_nothing(
        server_dir: Project, tokens: dict[str, str], ref: str) -> None:
    said = cli_fails(server_dir, "token", "revoke", ref)
    assert len(said.strip().splitlines()) <= 2 and "token" in said
    assert {r["status"] for r in token_rows(server_dir)} == {"active"}


def test_token_ls_never_shows_a_token_and_says_when_each_was_used(
        live: LiveServer, server_dir: Project, tokens: dict[str, str]) -> None:
    assert httpx.get(f"{live.url}/api/v1/runs", headers=bearer(tokens["reader"])).status_code == 200
    listing = cli_ok(server_dir, "token", "ls")
    rows = token_rows(server_dir)
    for token in tokens.values():
        assert token not in listing and token not in json.dumps(rows)
    assert "USER" in listing and "STATUS" in listing and "rita" in listing
    used = {r["user"]: r["last_used_at"] for r in rows}
    assert used["rita"] is not None and used["ada"] is None
    assert sorted(r["user"] for r in token_rows(server_dir)) == ["ada", "rita", "wes"]
    only = json.loads(cli_ok(server_dir, "token", "ls", "--user", "wes", "--json"))
    assert [r["user"] for r in only] == ["wes"]


# -- expiry ------------------------------------------------------------------------------------
def test_an_expired_token_is_refused_on_its_next_request(live: LiveServer,
                                                         server_dir: Project) -> None:
    cli_ok(server_dir, "user", "add", "cora", "--role", "writer")
    store = open_store(server_dir)
    short = create_token(store.db, "cora", expires_at=now_ms() + 1_500)
    store.close()
    assert httpx.get(f"{live.url}/api/v1/runs", headers=bearer(short)).status_code == 200
    time.sleep(1.6)
    refused = httpx.post(f"{live.url}/api/v1/runs", json={"name": "late"}, headers=bearer(short))
    assert refused.status_code == 401 and "expired" in refused.json()["error"]["message"]
    assert [r["status"] for r in token_rows(server_dir) if r["user"] == "cora"] == ["expired"]


def test_token_create_takes_an_expiry_and_refuses_a_bad_one(server_dir: Project,
                                                            tokens: dict[str, str]) -> None:
    made = cairn_cli("server", "token", "create", "wes", "--expires", "30d", cwd=server_dir.root)
    assert made.returncode == 0 and "until 20" in made.stderr
    store = open_store(server_dir)
    newest = list_tokens(store.db, "wes")[-1]
    store.close()
    assert newest.expires_at is not None
    assert abs(newest.expires_at - (now_ms() + 30 * 86_400_000)) < 120_000
    for bad in ("soon", "-3d", "2020-01-01"):
        said = cli_fails(server_dir, "token", "create", "wes", "--expires", bad)
        assert "expir" in said
    assert len(token_rows(server_dir)) == 4  # the three fixtures' and the 30-day one


# -- users and roles ---------------------------------------------------------------------------
def test_a_removed_user_is_refused_at_once_and_their_runs_stay(
        live: LiveServer, server_dir: Project, tokens: dict[str, str]) -> None:
    with httpx.Client(base_url=f"{live.url}/api/v1", headers=bearer(tokens["writer"])) as wes:
        made = wes.post("/runs", json={"name": "by-wes"})
        assert made.status_code == 201
        said = cli_ok(server_dir, "user", "rm", "wes")
        assert "removed user wes" in said and "1 token" in said
        assert wes.get("/runs").status_code == 401
    with httpx.Client(base_url=f"{live.url}/api/v1", headers=bearer(tokens["admin"])) as admin:
        kept = admin.get(f"/runs/{made.json()['id']}").json()
    assert kept["name"] == "by-wes" and kept["created_by"] == "wes"
    users = json.loads(cli_ok(server_dir, "user", "ls", "--json"))
    assert [u["name"] for u in users] == ["ada", "rita"]
    assert "no user named 'wes'" in cli_fails(server_dir, "user", "rm", "wes")
    assert all(r["user"] != "wes" for r in token_rows(server_dir))


def test_a_removed_role_is_refused_on_the_next_request(live: LiveServer, server_dir: Project,
                                                       tokens: dict[str, str]) -> None:
    with httpx.Client(base_url=f"{live.url}/api/v1", headers=bearer(tokens["writer"])) as wes:
        assert wes.post("/runs", json={"name": "one"}).status_code == 201
        said = cli_ok(server_dir, "user", "rm", "wes", "--role-only")
        assert "no longer a writer" in said
        refused = wes.post("/runs", json={"name": "two"})
        assert refused.status_code == 403 and "has no role" in refused.json()["error"]["message"]
        assert wes.get("/runs").status_code == 403
    again = cli_ok(server_dir, "user", "rm", "wes", "--role-only")
    assert "had no role" in again
    assert "wes" in [u["name"] for u in json.loads(cli_ok(server_dir, "user", "ls", "--json"))]
    assert "--role-only" in cli_fails(server_dir, "user", "rm", "wes", "--project", "other")


def test_an_admin_can_be_demoted(live: LiveServer, server_dir: Project,
                                 tokens: dict[str, str]) -> None:
    cli_ok(server_dir, "user", "add", "ada", "--no-admin", "--role", "reader")
    with httpx.Client(base_url=f"{live.url}/api/v1", headers=bearer(tokens["admin"])) as ada:
        assert ada.get("/whoami").json()["role"] == "reader"
        assert ada.post("/runs", json={"name": "x"}).status_code == 403


# -- browser sessions --------------------------------------------------------------------------
def test_the_cookie_holds_a_session_not_the_token_and_logout_ends_it(
        live: LiveServer, server_dir: Project, tokens: dict[str, str]) -> None:
    token = tokens["reader"]
    with httpx.Client(base_url=live.url) as browser:
        signed = sign_in(browser, token)
        assert signed.status_code == 303
        secret = browser.cookies["cairn_session"]
        assert token not in signed.headers["set-cookie"] and secret != token
        db_bytes = b"".join(p.read_bytes() for p in server_dir.store_dir.glob("cairn.db*"))
        assert secret.encode() not in db_bytes  # only its hash is stored
        assert browser.get("/api/v1/whoami").json()["user"] == "rita"
        page = browser.get("/runs", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "Sign out" in page.text and "rita" in page.text

        out = browser.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
    copied = {"cairn_session": secret}  # e.g. taken from the machine before signing out
    with httpx.Client(base_url=live.url, cookies=copied) as replay:
        refused = replay.get("/api/v1/runs")
        assert refused.status_code == 401
        assert "session has ended" in refused.json()["error"]["message"]
        page = replay.get("/runs", headers={"Accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"] == "/login"
    assert httpx.get(f"{live.url}/api/v1/runs", headers=bearer(token)).status_code == 200


def test_a_token_in_the_cookie_is_not_a_session(live: LiveServer,
                                                tokens: dict[str, str]) -> None:
    for name in ("cairn_session", "cairn_token"):
        with httpx.Client(base_url=live.url, cookies={name: tokens["admin"]}) as browser:
            assert browser.get("/api/v1/runs").status_code == 401


def test_revoking_the_token_ends_its_sessions_and_the_cookie_never_writes(
        live: LiveServer, server_dir: Project, tokens: dict[str, str]) -> None:
    with httpx.Client(base_url=live.url) as browser:
        assert sign_in(browser, tokens["writer"]).status_code == 303
        assert browser.get("/api/v1/runs").status_code == 200
        assert browser.post("/api/v1/runs", json={"name": "csrf"}).status_code == 401
        cli_ok(server_dir, "token", "revoke", tokens["writer"])
        assert browser.get("/api/v1/runs").status_code == 401
        refused = sign_in(browser, tokens["writer"])
        assert refused.status_code == 401 and "not valid" in refused.text


def test_a_session_ends_no_later_than_its_token(live: LiveServer, server_dir: Project) -> None:
    cli_ok(server_dir, "user", "add", "tess", "--role", "reader")
    store = open_store(server_dir)
    token = create_token(store.db, "tess", expires_at=now_ms() + 1_500)
    store.close()
    with httpx.Client(base_url=live.url) as browser:
        signed = sign_in(browser, token)
        assert signed.status_code == 303
        max_age = int(signed.headers["set-cookie"].lower().split("max-age=", 1)[1].split(";")[0])
        assert 0 < max_age <= 2
        assert browser.get("/api/v1/whoami").status_code == 200
        time.sleep(1.6)
        assert browser.get("/api/v1/whoami").status_code == 401


def test_signing_out_without_a_session_only_forgets_the_cookie(live: LiveServer) -> None:
    with httpx.Client(base_url=live.url, cookies={"cairn_session": "made-up"}) as browser:
        out = browser.post("/logout")
    assert out.status_code == 303 and 'cairn_session=""' in out.headers["set-cookie"]
