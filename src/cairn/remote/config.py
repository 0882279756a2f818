"""Named remotes (``[remote.NAME]`` in ``.cairn/config.toml``) and their saved tokens.

Remotes are edited as text, section by section, so the rest of the config file (and its
comments) stays as the user wrote it. Tokens never go into the project: they live in the
user's ``~/.config/cairn/credentials.toml``, readable by the user only (0600), keyed by the
server's URL so that every project talking to one server shares one login.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from cairn.errors import Conflict, InvalidInput, NotFound
from cairn.project import Project
from cairn.settings import RemoteSpec, env_token, load_settings, read_toml, user_config_path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HEADER = re.compile(r"^\s*\[")
_SCHEMES = ("http", "https", "s3", "s3a", "gs", "gcs", "az", "abfs", "file", "memory")
DEFAULT_NAME = "origin"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInput(f"{name!r} is not a usable remote name: use letters, digits and . _ -")
    return name


def normalize_url(url: str) -> str:
    """A URL cairn can use: a plain folder path becomes ``file://`` with an absolute path."""
    url = url.strip()
    if "://" not in url:
        if not url:
            raise InvalidInput("a remote needs a URL: http://host:port, s3://bucket/path or "
                               "a folder")
        return "file://" + str(Path(url).expanduser().resolve())
    scheme = url.split("://", 1)[0].lower()
    if scheme not in _SCHEMES:
        raise InvalidInput(f"cannot use {scheme}:// as a remote; use one of "
                           f"{', '.join(s + '://' for s in _SCHEMES)}")
    return url.rstrip("/")


# -- remotes in .cairn/config.toml -----------------------------------------------------------
def list_remotes(project: Project) -> list[RemoteSpec]:
    return list(load_settings(project.store_dir).remotes)


def get_remote(project: Project, name: str | None) -> RemoteSpec:
    """The remote ``name``; without one, the only remote or the one called ``origin``."""
    remotes = list_remotes(project)
    if not remotes:
        raise NotFound("this project has no remote yet",
                       hint="add one: cairn remote add origin http://HOST:5005 (or s3://…)")
    if name is None:
        if len(remotes) == 1:
            return remotes[0]
        for remote in remotes:
            if remote.name == DEFAULT_NAME:
                return remote
        names = ", ".join(r.name for r in remotes)
        raise InvalidInput(f"this project has several remotes ({names}); say which with "
                           "--remote NAME")
    for remote in remotes:
        if remote.name == name:
            return remote
    names = ", ".join(r.name for r in remotes)
    raise NotFound(f"no remote named {name!r} (remotes: {names})")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _section_bounds(lines: list[str], name: str) -> tuple[int, int] | None:
    """Lines [start, end) of ``[remote.NAME]`` and its subtables."""
    heads = {f"[remote.{name}]", f'[remote."{name}"]'}
    subs = (f"[remote.{name}.", f'[remote."{name}".')
    start = end = None
    for i, line in enumerate(lines):
        text = line.strip()
        if start is None:
            if text in heads:
                start = i
        elif _HEADER.match(line) and not text.startswith(subs):
            end = i
            break
    if start is None:
        return None
    return start, len(lines) if end is None else end


def add_remote(project: Project, name: str, url: str,
               options: dict[str, str] | None = None) -> RemoteSpec:
    check_name(name)
    url = normalize_url(url)
    if any(r.name == name for r in list_remotes(project)):
        raise Conflict(f"a remote named {name!r} already exists",
                       hint=f"remove it first: cairn remote rm {name}")
    path = project.config_path
    text = path.read_text() if path.exists() else ""
    block = [f"[remote.{name}]", f"url = {_toml_value(url)}"]
    if options:
        block.append(f"[remote.{name}.options]")
        block += [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in sorted(options.items())]
    new = text + ("\n" if text and not text.endswith("\n") else "") + (
        "\n" if text.strip() else "") + "\n".join(block) + "\n"
    _write_checked(path, new)
    return RemoteSpec(name, url, dict(options or {}))


def remove_remote(project: Project, name: str) -> None:
    path = project.config_path
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    bounds = _section_bounds(lines, name)
    if bounds is None:
        raise NotFound(f"no remote named {name!r} in {path}")
    start, end = bounds
    while start > 0 and not lines[start - 1].strip():
        start -= 1  # the blank line that separated it
    _write_checked(path, "".join(lines[:start] + lines[end:]))


def _write_checked(path: Path, text: str) -> None:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} would not parse after this change ({exc}); "
                           "fix it by hand") from exc
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# -- tokens in the user's credentials file -----------------------------------------------------
def credentials_path() -> Path:
    return user_config_path().with_name("credentials.toml")


def _server_key(url: str) -> str:
    """Tokens belong to a server: its scheme, host and port."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.lower()}://{rest.split('/', 1)[0].split('?', 1)[0].lower()}"


def token_for(url: str) -> str | None:
    """``CAIRN_TOKEN`` when set, else the token saved for the server of ``url``."""
    given = env_token()
    if given:
        return given
    entry = read_toml(credentials_path()).get("servers", {}).get(_server_key(url), {})
    token = entry.get("token") if isinstance(entry, dict) else None
    return str(token) if token else None


def save_token(url: str, token: str) -> Path:
    """Remember ``token`` for the server of ``url`` in a file only the user can read."""
    servers = dict(read_toml(credentials_path()).get("servers", {}))
    servers[_server_key(url)] = {"token": token}
    lines = ["# cairn API tokens, one per server; keep this file private (mode 0600)"]
    for key in sorted(servers):
        entry = servers[key]
        if isinstance(entry, dict) and entry.get("token"):
            lines += ["", f"[servers.{json.dumps(key)}]", f"token = {_toml_value(entry['token'])}"]
    path = credentials_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o600)  # also when the file already existed with a wider mode
    os.replace(tmp, path)
    return path
