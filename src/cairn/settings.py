"""Settings: defaults < ~/.config/cairn/config.toml < .cairn/config.toml < CAIRN_* env.

Flags win over all of these; commands pass them explicitly. Settings are read into a frozen
value, never a global mutable object.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "cairn" / "config.toml"


@dataclass(frozen=True)
class Settings:
    capture_env: tuple[str, ...] = ()  # extra environment variable names or patterns
    source_size_limit: int = 10 * 1024 * 1024  # source files larger than this are listed only
    sys_metrics_interval_s: float = 5.0
    # Distinct keys one run may hold: a run with 100,000 metric keys made every listing of
    # the project megabytes long, so a batch that would pass these is refused whole.
    max_metric_keys: int = 1000
    max_params: int = 1000
    max_tags: int = 1000
    raw: dict[str, Any] = field(default_factory=dict)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
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


def load_settings(store_dir: Path | None) -> Settings:
    raw = _read_toml(user_config_path())
    if store_dir is not None:
        raw = _merge(raw, _read_toml(store_dir / "config.toml"))
    capture = raw.get("capture", {})
    env_extra = list(capture.get("env", []))
    env_extra += [p for p in os.environ.get("CAIRN_CAPTURE_ENV", "").split(",") if p]
    interval = float(os.environ.get("CAIRN_SYS_INTERVAL", capture.get("sys_interval", 5.0)))
    limits = raw.get("limits", {})
    return Settings(
        capture_env=tuple(str(p) for p in env_extra),
        source_size_limit=int(capture.get("source_size_limit", 10 * 1024 * 1024)),
        sys_metrics_interval_s=interval,
        max_metric_keys=_limit(limits, "metric_keys", "CAIRN_MAX_METRIC_KEYS"),
        max_params=_limit(limits, "params", "CAIRN_MAX_PARAMS"),
        max_tags=_limit(limits, "tags", "CAIRN_MAX_TAGS"),
        raw=raw,
    )


def _limit(limits: dict[str, Any], key: str, env: str) -> int:
    """``[limits] key`` or the ``env`` variable: a whole number of 1 or more."""
    given = os.environ.get(env, limits.get(key, 1000))
    try:
        value = int(given)
    except (TypeError, ValueError):
        value = 0
    if value < 1 or isinstance(given, bool):
        raise InvalidInput(f"the limit {key} ({env} or [limits] {key}) must be a whole "
                           f"number of 1 or more, not {given!r}")
    return value
