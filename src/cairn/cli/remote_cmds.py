"""``cairn remote``, ``cairn login``, ``cairn push`` and ``cairn pull``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from cairn._util.sizes import human_size
from cairn.cli.render import console, err_console, print_json

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from cairn.remote.base import Remote
    from cairn.settings import RemoteSpec


@click.group()
def remote() -> None:
    """Named places to push runs to and pull them from: a cairn server or a bucket."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="A storage option for a bucket, e.g. endpoint_url=http://127.0.0.1:9000.")
def remote_add(name: str, url: str, options: tuple[str, ...]) -> None:
    """Add remote NAME at URL (http://HOST:PORT, s3://BUCKET/PATH, file:///PATH or a folder)."""
    from cairn.errors import InvalidInput
    from cairn.project import require_project
    from cairn.remote.config import add_remote

    parsed: dict[str, str] = {}
    for pair in options:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"an option is written KEY=VALUE, not {pair!r}")
        parsed[key.strip()] = value
    spec = add_remote(require_project(), name, url, parsed)
    console().print(f"cairn: added remote {spec.name} → {spec.url}")
    if spec.is_http:
        err_console().print(f"next: cairn login {spec.name}")


@remote.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def remote_ls(as_json: bool) -> None:
    """List this project's remotes."""
    from cairn.project import require_project
    from cairn.remote.config import list_remotes, token_for

    specs = list_remotes(require_project(announce=False))
    logged = {r.name: bool(token_for(r.url)) if r.is_http else None for r in specs}
    if as_json:
        print_json([{"name": r.name, "url": r.url, "logged_in": logged[r.name]} for r in specs])
        return
    if not specs:
        console().print("[dim]no remotes yet: cairn remote add NAME URL[/]")
    for r in specs:
        login = {True: "  (logged in)", False: "  (not logged in)", None: ""}[logged[r.name]]
        console().print(f"{r.name}  {r.url}[dim]{login}[/]")


@remote.command("rm")
@click.argument("name")
def remote_rm(name: str) -> None:
    """Remove remote NAME (nothing on the remote itself changes)."""
    from cairn.project import require_project
    from cairn.remote.config import remove_remote

    remove_remote(require_project(announce=False), name)
    console().print(f"cairn: removed remote {name}")


@click.command()
@click.argument("target", metavar="REMOTE")
def login(target: str) -> None:
    """Save an API token for REMOTE (a remote's name or a server URL), read from stdin."""
    from cairn.errors import InvalidInput
    from cairn.remote.config import normalize_url, save_token

    spec = _spec_or_url(target)
    if not spec.is_http:
        raise InvalidInput(f"{spec.name} is a bucket ({spec.url}); it uses your cloud "
                           "credentials (AWS_* variables or profiles), not a cairn token")
    if sys.stdin.isatty():
        token = click.prompt(f"API token for {spec.url}", hide_input=True)
    else:
        token = sys.stdin.readline()
    token = token.strip()
    if not token:
        raise InvalidInput("no token given; an admin makes one with: cairn server token create "
                           "NAME")
    from cairn.remote.http import HttpRemote

    client = HttpRemote(spec.name, normalize_url(spec.url), token=token)
    try:
        who = client.whoami()
    finally:
        client.close()
    path = save_token(spec.url, token)
    console().print(f"cairn: logged in to {spec.url} as {who.get('user')} "
                    f"({who.get('role')} of {who.get('project')}); token saved in {path}")


def _spec_or_url(target: str) -> RemoteSpec:
    from cairn.project import find_project
    from cairn.remote.config import get_remote, normalize_url
    from cairn.settings import RemoteSpec

    project = find_project()
    if "://" in target or project is None:
        return RemoteSpec(target, normalize_url(target))
    return get_remote(project, target)


class _Bar:
    """The transfer progress on stderr (rich), fed from the upload threads."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress: RichProgress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("objects"), TimeRemainingColumn(), console=err_console(), transient=True,
        )
        self._task: TaskID | None = None

    def start(self, label: str, objects: int, total_bytes: int) -> None:
        if objects == 0:
            return
        self._progress.start()
        self._task = self._progress.add_task(label, total=objects)

    def advance(self, nbytes: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, 1)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None
        self._progress.stop()



def _open(spec: RemoteSpec) -> Remote:
    from cairn.remote.base import open_remote

    return open_remote(spec)


@click.command()
@click.argument("runs", nargs=-1, metavar="[RUN]...")
@click.option("--remote", "-r", "remote_name", metavar="NAME",
              help="Where to push (default: the only remote, or origin).")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Objects sent at once.")
def push(runs: tuple[str, ...], remote_name: str | None, jobs: int) -> None:
    """Send runs (default: every run that has ended) with all they refer to.

    Only objects the remote lacks are sent; the run itself goes last.
    """
    from cairn.cli.opening import open_project
    from cairn.objects.local import LocalObjectStore
    from cairn.remote.config import get_remote
    from cairn.remote.push import push_run
    from cairn.store import runs as run_store
    from cairn.store.resolve import resolve_run

    project, store = open_project()
    spec = get_remote(project, remote_name)
    if runs:
        rows = list({r.id: r for r in (resolve_run(store, ref) for ref in runs)}.values())
    else:
        rows = [r for r in reversed(run_store.list_runs(store, limit=None))
                if r.status != "running"]
        if not rows:
            console().print("[dim]no ended runs to push[/]")
            return
    local = LocalObjectStore(project.objects_dir)
    client = _open(spec)
    out = console()
    try:
        for row in rows:
            result = push_run(store, local, client, row, jobs=jobs, progress=_Bar())
            there = f" as run {result.remote_number}" if result.remote_number else ""
            kept = result.objects - result.sent
            already = f", {kept} already there" if kept else ""
            out.print(f"cairn: pushed run {row.number} to {spec.name}{there}: "
                      f"{result.sent} objects sent ({human_size(result.bytes_sent)}){already}")
    finally:
        client.close()


@click.command()
@click.argument("refs", nargs=-1, required=True, metavar="[REMOTE:]RUN...")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Objects fetched at once.")
def pull(refs: tuple[str, ...], jobs: int) -> None:
    """Fetch runs from a remote (e.g. team:7, team:baseline, team:last) with their objects."""
    from cairn.cli.opening import open_project
    from cairn.errors import Conflict
    from cairn.objects.local import LocalObjectStore
    from cairn.remote.config import get_remote, list_remotes
    from cairn.remote.pull import pull_run

    project, store = open_project()
    names = {r.name for r in list_remotes(project)}
    local = LocalObjectStore(project.objects_dir)
    out = console()
    clients: dict[str, Any] = {}
    refused: list[Conflict] = []  # runs whose copy here may not change; the others go on
    try:
        for ref in refs:
            name, sep, run_ref = ref.partition(":")
            if not sep or name not in names:
                name, run_ref = get_remote(project, None).name, ref
            spec = get_remote(project, name)
            client = clients.get(name) or clients.setdefault(name, _open(spec))
            try:
                result = pull_run(store, local, client, run_ref, jobs=jobs, progress=_Bar())
            except Conflict as exc:
                refused.append(exc)
                continue
            verb = ("pulled" if result.created else "refreshed" if result.changed
                    else "already had")
            out.print(f"cairn: {verb} {name}:{run_ref} as run {result.run.number} "
                      f"({result.fetched} objects fetched, {human_size(result.bytes_fetched)}) · "
                      f"cairn show {result.run.number}")
    finally:
        for client in clients.values():
            client.close()
    for refusal in refused[:-1]:
        err_console().print(f"cairn: error: {refusal.message}", markup=False, highlight=False)
    if refused:
        raise refused[-1]
