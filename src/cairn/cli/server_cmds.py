"""``cairn server``: serve the project's store over HTTP, and manage its users and tokens."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from cairn.cli.render import console, err_console, print_json

if TYPE_CHECKING:
    from cairn.store.core import MetaStore

@click.group(invoke_without_command=True)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but localhost exposes the server.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="Also answer requests whose Host is NAME (e.g. behind a proxy); repeatable.")
@click.option("--port", "-p", type=click.IntRange(0, 65535), default=5005, show_default=True)
@click.option("--workers", "-w", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes (PostgreSQL suits several writers best).")
@click.option("--no-auth", is_flag=True,
              help="Answer without tokens, as you, with the admin role (localhost only).")
@click.pass_context
def server(ctx: click.Context, host: str, port: int, workers: int, no_auth: bool,
           allowed_hosts: tuple[str, ...] = ()) -> None:
    """Serve the REST API, the sync protocol and the web UI of this project.

    \b
    First make an account and a token for each person:
      cairn server user add alice --admin
      cairn server token create alice
    """
    if ctx.invoked_subcommand is not None:
        return
    from cairn._http.guard import is_loopback
    from cairn.errors import InvalidInput

    if no_auth and not is_loopback(host):
        raise InvalidInput(f"--no-auth is only allowed on localhost, not on {host}",
                           hint="create users and tokens instead: cairn server user add NAME")
    _serve(host, port, workers, auth=not no_auth, allowed_hosts=allowed_hosts)


def _serve(host: str, port: int, workers: int, *, auth: bool,
           allowed_hosts: tuple[str, ...] = ()) -> None:
    from cairn._http.guard import HostRule
    from cairn._http.launch import listen, serve
    from cairn.cli.opening import open_project
    from cairn.server.app import server_spec
    from cairn.store.accounts import list_users

    project, store = open_project(reap=False)
    users = list_users(store.db)
    store.close()
    sock = listen(host, port)
    err = err_console()
    where = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
    err.print(f"cairn server · project {project.root} · {where}")
    if auth and not users:
        err.print("[yellow]no users yet[/]: cairn server user add NAME --admin, then "
                  "cairn server token create NAME")
    if not auth:
        err.print("[yellow]no authentication[/]: every request acts as you, with full rights")
    spec = server_spec(project, auth=auth, hosts=HostRule(bind=host, allowed=allowed_hosts))
    serve(spec, sock, workers=workers, log_level="info")


@server.group()
def user() -> None:
    """Accounts on this server."""


def _project_store(project_name: str | None) -> tuple[MetaStore, MetaStore]:
    """The current project's store and the one ``--project`` names (the same by default)."""
    from cairn.cli.opening import open_project
    from cairn.store.core import MetaStore, project_row

    _project, store = open_project(reap=False)
    if project_name is None:
        return store, store
    return store, MetaStore(store.db, project_row(store.db, project_name), project_name)


@user.command("add")
@click.argument("name")
@click.option("--admin/--no-admin", default=None,
              help="Make NAME admin of every project, or take that away.")
@click.option("--role", type=click.Choice(["reader", "writer", "admin"]), default="writer",
              show_default=True, help="The user's role in this project.")
@click.option("--project", "project_name", metavar="NAME",
              help="Give the role in this project instead of the current one.")
def user_add(name: str, admin: bool | None, role: str, project_name: str | None) -> None:
    """Add user NAME (or change their role in this project)."""
    from cairn.store.accounts import add_user, set_role

    store, target = _project_store(project_name)
    account, created = add_user(store.db, name, is_admin=admin)
    effective = "admin" if admin else role
    set_role(store.db, target.project_id, account, effective)
    verb = "added" if created else "updated"
    scope = "admin of every project" if account.is_admin else (
        f"{effective} of project {target.project_name!r}")
    console().print(f"cairn: {verb} user {name}: {scope}")
    if created:
        err_console().print(f"next: cairn server token create {name}")


@user.command("rm")
@click.argument("name")
@click.option("--role-only", is_flag=True,
              help="Only take NAME's role in this project (or --project's) away; keep the account.")
@click.option("--project", "project_name", metavar="NAME",
              help="With --role-only: the project to take the role away in.")
def user_rm(name: str, role_only: bool, project_name: str | None) -> None:
    """Remove user NAME: their tokens stop working at once; runs they made stay theirs."""
    from cairn.errors import InvalidInput
    from cairn.store.accounts import get_user, remove_role, remove_user

    store, target = _project_store(project_name)
    if not role_only:
        if project_name is not None:
            raise InvalidInput("--project needs --role-only: removing a user removes them "
                               "from every project")
        tokens = remove_user(store.db, name)
        console().print(f"cairn: removed user {name} and revoked their {tokens} "
                        f"token{'s' if tokens != 1 else ''}; their runs keep their name")
        return
    account = get_user(store.db, name)
    had = remove_role(store.db, target.project_id, account)
    where = f"project {target.project_name!r}"
    if had is None:
        console().print(f"cairn: {name} had no role in {where}; nothing changed")
    else:
        console().print(f"cairn: {name} is no longer a {had} of {where}")
    if account.is_admin:
        err_console().print(f"[yellow]{name} is still admin of every project[/]: "
                            f"cairn server user add {name} --no-admin")


@user.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def user_ls(as_json: bool) -> None:
    """List users and their role in this project."""
    from cairn.store.accounts import list_users, role_of

    store, _ = _project_store(None)
    rows = [{"name": u.name, "admin": u.is_admin, "role": role_of(store.db, u, store.project_id)}
            for u in list_users(store.db)]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("[dim]no users yet: cairn server user add NAME[/]")
    for row in rows:
        console().print(f"{row['name']}  {row['role'] or '-'}{'  (admin)' if row['admin'] else ''}")


@server.group()
def token() -> None:
    """API tokens: make, list and revoke them."""


@token.command("create")
@click.argument("name")
@click.option("--label", help="A note to recognise the token by (e.g. the laptop it is for).")
@click.option("--expires", metavar="WHEN", default="never", show_default=True,
              help="When the token stops working: 30d, 12h, 90m, 8w, a date (2027-01-31, "
                   "00:00 UTC) or never.")
def token_create(name: str, label: str | None, expires: str) -> None:
    """Make a new API token for user NAME and print it (this is the only time it is shown)."""
    from cairn._util.ids import now_ms
    from cairn._util.timefmt import iso_ms, parse_expiry
    from cairn.errors import InvalidInput
    from cairn.store.accounts import create_token

    try:
        expires_at = parse_expiry(expires, now_ms())
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    store, _ = _project_store(None)
    made = create_token(store.db, name, label=label, expires_at=expires_at)
    sys.stdout.write(made + "\n")
    until = f", until {iso_ms(expires_at)}" if expires_at is not None else ""
    err_console().print(f"a token for {name}{until}; it is stored hashed and cannot be shown "
                        "again. Use it with: cairn login REMOTE")


@token.command("ls")
@click.option("--user", "user_name", metavar="NAME", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def token_ls(user_name: str | None, as_json: bool) -> None:
    """List tokens (never their text): id, user, label, status, last use, expiry."""
    from cairn._util.ids import now_ms
    from cairn._util.timefmt import ago, iso_ms
    from cairn.cli.table import Column, render, use_color
    from cairn.store.accounts import list_tokens

    store, _ = _project_store(None)
    found, now = list_tokens(store.db, user_name), now_ms()
    ids = _short_ids([t.id for t in found])
    if as_json:
        print_json([{"id": t.id, "user": t.user, "label": t.label, "status": t.status(now),
                     "created_at": iso_ms(t.created_at), "last_used_at": iso_ms(t.last_used_at),
                     "expires_at": iso_ms(t.expires_at), "revoked_at": iso_ms(t.revoked_at)}
                    for t in found])
        return
    if not found:
        console().print("[dim]no tokens yet: cairn server token create NAME[/]")
        return
    styles = {"active": "green", "expired": "yellow", "revoked": "red"}
    statuses = [t.status(now) for t in found]
    columns = [
        Column("ID", ids, style="cyan"),
        Column("USER", [t.user for t in found]),
        Column("LABEL", [t.label or "-" for t in found]),
        Column("STATUS", statuses, cell_styles=[styles[s] for s in statuses]),
        Column("CREATED", [ago(t.created_at, now) for t in found]),
        Column("LAST USED", [ago(t.last_used_at, now) for t in found]),
        Column("EXPIRES", [(iso_ms(t.expires_at) or "never")[:16].replace("T", " ")
                           for t in found]),
    ]
    sys.stdout.write(render(columns, color=use_color()) + "\n")


def _short_ids(ids: list[str], least: int = 8) -> list[str]:
    """Each id cut to the shortest prefix (at least ``least`` digits) that no other shares."""
    size = least
    while size < 32 and len({i[:size] for i in ids}) < len(ids):
        size += 2
    return [i[:size] for i in ids]


@token.command("revoke")
@click.argument("refs", nargs=-1, metavar="[TOKEN_ID|TOKEN]...")
@click.option("--user", "user_name", metavar="NAME", help="Revoke every token of this user.")
def token_revoke(refs: tuple[str, ...], user_name: str | None) -> None:
    """Revoke tokens, by the id `token ls` shows (or a prefix), or by the token text itself.

    A revoked token, and every browser session signed in with it, is refused from its next
    request on.
    """
    from cairn.errors import InvalidInput
    from cairn.store.accounts import find_token, list_tokens, revoke_token

    if not refs and user_name is None:
        raise InvalidInput("name the tokens to revoke (their ids from cairn server token ls), "
                           "or --user NAME for all of one user's")
    store, _ = _project_store(None)
    chosen = [find_token(store.db, ref) for ref in refs]  # every name checked before any change
    if user_name is not None:
        chosen += [t for t in list_tokens(store.db, user_name) if t.revoked_at is None]
    revoked = 0
    for found in {t.id: t for t in chosen}.values():
        if revoke_token(store.db, found.id):
            revoked += 1
            console().print(f"cairn: revoked token {found.id[:8]} of {found.user}"
                            + (f" ({found.label})" if found.label else ""))
        else:
            console().print(f"cairn: token {found.id[:8]} of {found.user} was already revoked")
    if user_name is not None and revoked == 0 and not refs:
        console().print(f"cairn: {user_name} has no working token")
