"""``cairn server``: serve the project's store over HTTP, and manage its users and tokens."""

from __future__ import annotations

import ipaddress
import sys

import click

from cairn.cli.render import console, err_console, print_json

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
    from cairn.errors import InvalidInput

    if no_auth and not is_loopback(host):
        raise InvalidInput(f"--no-auth is only allowed on localhost, not on {host}",
                           hint="create users and tokens instead: cairn server user add NAME")
    _serve(host, port, workers, auth=not no_auth, allowed_hosts=allowed_hosts)


def _serve(host: str, port: int, workers: int, *, auth: bool,
           allowed_hosts: tuple[str, ...] = ()) -> None:
    from cairn._http.guard import HostRule
    from cairn._http.launch import listen, serve
    from cairn.cli.context import open_project
    from cairn.server.accounts import list_users
    from cairn.server.app import server_spec

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


@user.command("add")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Admin of every project on this server.")
@click.option("--role", type=click.Choice(["reader", "writer", "admin"]), default="writer",
              show_default=True, help="The user's role in this project.")
@click.option("--project", "project_name", metavar="NAME",
              help="Give the role in this project instead of the current one.")
def user_add(name: str, admin: bool, role: str, project_name: str | None) -> None:
    """Add user NAME (or change their role in this project)."""
    from cairn.cli.context import open_project
    from cairn.server.accounts import add_user, set_role
    from cairn.store.core import MetaStore, project_row

    _project, store = open_project(reap=False)
    target = store if project_name is None else MetaStore(
        store.db, project_row(store.db, project_name), project_name)
    account, created = add_user(store.db, name, is_admin=admin)
    effective = "admin" if admin else role
    set_role(store.db, target.project_id, account, effective)
    verb = "added" if created else "updated"
    scope = "admin of every project" if account.is_admin else (
        f"{effective} of project {target.project_name!r}")
    console().print(f"cairn: {verb} user {name}: {scope}")
    if created:
        err_console().print(f"next: cairn server token create {name}")


@user.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def user_ls(as_json: bool) -> None:
    """List users and their role in this project."""
    from cairn.cli.context import open_project
    from cairn.server.accounts import list_users, role_of

    _project, store = open_project(reap=False)
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
    """API tokens."""


@token.command("create")
@click.argument("name")
@click.option("--label", help="A note to recognise the token by (e.g. the laptop it is for).")
def token_create(name: str, label: str | None) -> None:
    """Make a new API token for user NAME and print it (this is the only time it is shown)."""
    from cairn.cli.context import open_project
    from cairn.server.accounts import create_token

    _project, store = open_project(reap=False)
    made = create_token(store.db, name, label=label)
    sys.stdout.write(made + "\n")
    err_console().print(f"a token for {name}; it is stored hashed and cannot be shown again. "
                        "Use it with: cairn login REMOTE")
