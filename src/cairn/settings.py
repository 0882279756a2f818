"""Settings: defaults < ~/.config/cairn/config.toml < .cairn/config.toml < CAIRN_* env.

This module is cairn's one reader of configuration. Flags win over all of it; commands pass
them explicitly. What can be set is declared here, once: ``Env`` lists the variables a user
may set, ``Key`` the config keys, and README.md's "Configuration" table documents each of
them (``tests/test_settings_docs.py`` fails when one is missing there, or when the code names
a ``CAIRN_*`` variable that is declared nowhere).

- ``load_settings`` reads the two config files and the variables that can override them into
  a frozen ``Settings``, never a global mutable object.
- Variables needed before a project is found (``CAIRN_DIR``, ``CAIRN_DB``) or on every store
  opened have no config key and are read by one small function each (``env_store_dir``, …):
  reading two TOML files there would cost every ``cairn ls``.
- ``Internal`` names the variables cairn sets for processes it starts itself (the tracked
  script, server workers): hand-offs, not settings. They are read where they are used, are
  not documented for users, and setting them by hand is not supported.

The run's bootstrap (``runner/bootstrap/``) runs inside the user's interpreter without cairn
importable, so it spells ``CAIRN_RUN_ID``, ``CAIRN_BOOT_OUT`` and ``CAIRN_DEBUG`` itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput


class Env:
    """The variables a user may set (README.md, "Configuration")."""

    DIR = "CAIRN_DIR"
    DB = "CAIRN_DB"
    PROJECT = "CAIRN_PROJECT"
    USER = "CAIRN_USER"
    TOKEN = "CAIRN_TOKEN"
    DEBUG = "CAIRN_DEBUG"
    CAPTURE_ENV = "CAIRN_CAPTURE_ENV"
    SYS_INTERVAL = "CAIRN_SYS_INTERVAL"
    HEARTBEAT_INTERVAL = "CAIRN_HEARTBEAT_INTERVAL"
    MAX_METRIC_KEYS = "CAIRN_MAX_METRIC_KEYS"
    MAX_PARAMS = "CAIRN_MAX_PARAMS"
    MAX_TAGS = "CAIRN_MAX_TAGS"
    SERVER_MAX_UPLOAD = "CAIRN_SERVER_MAX_UPLOAD"
    #: ``CAIRN_SECRET_<FLAG>`` re-supplies a value redacted from a recorded command line;
    #: read by ``reproduce/plan.py`` from the environment it is given (``capture/secrets.py``).
    SECRET_PREFIX = "CAIRN_SECRET_"
    XDG_CONFIG_HOME = "XDG_CONFIG_HOME"
    XDG_CACHE_HOME = "XDG_CACHE_HOME"


class Key:
    """The keys of ``config.toml`` (README.md, "Configuration"), as ``table.key``."""

    CAPTURE_ENV = "capture.env"
    SOURCE_SIZE_LIMIT = "capture.source_size_limit"
    SYS_INTERVAL = "capture.sys_interval"
    HEARTBEAT_INTERVAL = "run.heartbeat_interval"
    MAX_METRIC_KEYS = "limits.metric_keys"
    MAX_PARAMS = "limits.params"
    MAX_TAGS = "limits.tags"
    SERVER_MAX_UPLOAD = "server.max_upload"
    REMOTE_URL = "remote.NAME.url"  # written by `cairn remote add`
    REMOTE_OPTIONS = "remote.NAME.options"


class Internal:
    """Variables cairn sets for the processes it starts: internal hand-offs, not settings."""

    RUN_ID = "CAIRN_RUN_ID"  # cairn run -> the tracked script: the SDK joins this run
    BOOT_OUT = "CAIRN_BOOT_OUT"  # cairn run -> the bootstrap: where it writes what it saw
    FEEDBACK_DATA = "CAIRN_FEEDBACK_DATA"  # cairn retrain -> the training script (README)
    HTTP_APP = "CAIRN_HTTP_APP"  # both servers --workers N -> each worker: the app's spec


DEFAULT_LIMIT = 1000
DEFAULT_SOURCE_SIZE_LIMIT = 10 * 1024 * 1024
DEFAULT_SYS_INTERVAL_S = 5.0
DEFAULT_HEARTBEAT_INTERVAL_S = 5.0
#: ``store/runs.py`` counts a running run silent for 60 s as crashed; beating at most every
#: 15 s leaves room for three late beats before that.
MAX_HEARTBEAT_INTERVAL_S = 15.0


@dataclass(frozen=True)
class RemoteSpec:
    """One ``[remote.NAME]`` table: where ``cairn push`` and ``pull`` go."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def is_http(self) -> bool:
        return self.url.startswith(("http://", "https://"))


@dataclass(frozen=True)
class Settings:
    capture_env: tuple[str, ...] = ()  # extra environment variable names or patterns
    source_size_limit: int = DEFAULT_SOURCE_SIZE_LIMIT  # larger source files are listed only
    sys_metrics_interval_s: float = DEFAULT_SYS_INTERVAL_S
    # How often a live run says it is alive: `cairn run`'s watcher and the SDK's own runs.
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    # Distinct keys one run may hold: a run with 100,000 metric keys made every listing of
    # the project megabytes long, so a batch that would pass these is refused whole.
    max_metric_keys: int = DEFAULT_LIMIT
    max_params: int = DEFAULT_LIMIT
    max_tags: int = DEFAULT_LIMIT
    # As written (``5GiB``); parsed by ``server_max_upload`` when a server starts, so that a
    # typo there cannot stop ``cairn run``.
    server_max_upload_text: str | int | None = None
    remotes: tuple[RemoteSpec, ...] = ()  # sorted by name

    @property
    def server_max_upload(self) -> int | None:
        """The largest upload ``cairn server`` accepts, in bytes; None: its own default."""
        if self.server_max_upload_text is None:
            return None
        from cairn._util.sizes import parse_size

        return parse_size(self.server_max_upload_text)


# -- the files -------------------------------------------------------------------------------
def user_config_path() -> Path:
    """``$XDG_CONFIG_HOME/cairn/config.toml`` (``~/.config/cairn/config.toml`` by default)."""
    base = os.environ.get(Env.XDG_CONFIG_HOME) or str(Path.home() / ".config")
    return Path(base) / "cairn" / "config.toml"


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cairn`` (``~/.cache/cairn`` by default): rebuilt environments."""
    base = os.environ.get(Env.XDG_CACHE_HOME) or str(Path.home() / ".cache")
    return Path(base) / "cairn"


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file at ``path``, ``{}`` when there is none; one sentence when it is broken."""
    if not path.is_file():
        return {}
    import tomllib  # only when a file exists: most commands run without one

    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"the config file {path} does not parse: {exc}") from exc


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


# -- the layers ------------------------------------------------------------------------------
def load_settings(store_dir: Path | None) -> Settings:
    """The user's and the project's config files, then the ``CAIRN_*`` variables over them."""
    raw = read_toml(user_config_path())
    if store_dir is not None:
        raw = _merge(raw, read_toml(store_dir / "config.toml"))
    env_extra = [str(p) for p in _given(raw, Key.CAPTURE_ENV) or []]
    env_extra += [p for p in os.environ.get(Env.CAPTURE_ENV, "").split(",") if p]
    return Settings(
        capture_env=tuple(env_extra),
        source_size_limit=_whole(raw, Key.SOURCE_SIZE_LIMIT, None, DEFAULT_SOURCE_SIZE_LIMIT,
                                 least=0),
        sys_metrics_interval_s=_seconds(raw, Key.SYS_INTERVAL, Env.SYS_INTERVAL,
                                        DEFAULT_SYS_INTERVAL_S, None),
        heartbeat_interval_s=_seconds(raw, Key.HEARTBEAT_INTERVAL, Env.HEARTBEAT_INTERVAL,
                                      DEFAULT_HEARTBEAT_INTERVAL_S, MAX_HEARTBEAT_INTERVAL_S),
        max_metric_keys=_whole(raw, Key.MAX_METRIC_KEYS, Env.MAX_METRIC_KEYS, DEFAULT_LIMIT),
        max_params=_whole(raw, Key.MAX_PARAMS, Env.MAX_PARAMS, DEFAULT_LIMIT),
        max_tags=_whole(raw, Key.MAX_TAGS, Env.MAX_TAGS, DEFAULT_LIMIT),
        server_max_upload_text=(os.environ.get(Env.SERVER_MAX_UPLOAD)
                                or _given(raw, Key.SERVER_MAX_UPLOAD)),
        remotes=_remotes(raw.get("remote")),
    )


def _given(raw: Mapping[str, Any], key: str) -> Any:
    """The value of ``table.key`` in the merged files, None when absent."""
    table, _, name = key.partition(".")
    section = raw.get(table)
    return section.get(name) if isinstance(section, dict) else None


def _where(key: str, env: str | None) -> str:
    table, _, name = key.partition(".")
    return f"{env} or [{table}] {name}" if env else f"[{table}] {name}"


def _whole(raw: Mapping[str, Any], key: str, env: str | None, default: int, *,
           least: int = 1) -> int:
    """A whole number of ``least`` or more: the variable ``env``, else ``key``, else
    ``default``."""
    given = (os.environ.get(env) if env else None) or _given(raw, key)
    if given is None:
        return default
    try:
        value = int(given)
    except (TypeError, ValueError):
        value = least - 1
    if value < least or isinstance(given, bool):
        raise InvalidInput(f"{_where(key, env)} must be a whole number of {least} or more, "
                           f"not {given!r}")
    return value


def _seconds(raw: Mapping[str, Any], key: str, env: str, default: float,
             most: float | None) -> float:
    """A number of seconds above 0 (and at most ``most``): ``env``, else ``key``."""
    given = os.environ.get(env) or _given(raw, key)
    if given is None:
        return default
    try:
        value = float(given)
    except (TypeError, ValueError):
        value = 0.0
    if not value > 0 or isinstance(given, bool) or (most is not None and value > most):
        bound = f" and at most {most:g}" if most is not None else ""
        raise InvalidInput(f"{_where(key, env)} must be a number of seconds above 0{bound}, "
                           f"not {given!r}")
    return value


def _remotes(tables: Any) -> tuple[RemoteSpec, ...]:
    """``[remote.NAME]`` tables with a text ``url``; others are not remotes and are skipped."""
    out = []
    for name, table in tables.items() if isinstance(tables, dict) else ():
        if isinstance(table, dict) and isinstance(table.get("url"), str):
            options = table.get("options", {})
            out.append(RemoteSpec(str(name), table["url"],
                                  dict(options) if isinstance(options, dict) else {}))
    return tuple(sorted(out, key=lambda r: r.name))


# -- variables read on their own -------------------------------------------------------------
def env_store_dir() -> str | None:
    """``CAIRN_DIR``: the ``.cairn`` folder to use instead of looking for one."""
    return os.environ.get(Env.DIR) or None


def env_db_url() -> str | None:
    """``CAIRN_DB``: the metadata database (``postgresql://…``) instead of ``cairn.db``."""
    return os.environ.get(Env.DB) or None


def env_project_name() -> str | None:
    """``CAIRN_PROJECT``: the project's name in a shared store, instead of its folder's."""
    return os.environ.get(Env.PROJECT) or None


def env_user() -> str | None:
    """``CAIRN_USER``: who registers model versions and moves aliases (else the login)."""
    return os.environ.get(Env.USER) or None


def env_token() -> str | None:
    """``CAIRN_TOKEN``: the API token for every HTTP remote, instead of the saved ones."""
    return os.environ.get(Env.TOKEN) or None


def debug_enabled() -> bool:
    """``CAIRN_DEBUG`` (or ``--debug``): tracebacks instead of one sentence."""
    return bool(os.environ.get(Env.DEBUG))


def enable_debug() -> None:
    """``--debug``: on for this process and every process it starts."""
    os.environ[Env.DEBUG] = "1"
