"""The per-run key limits a server applies, read once per project folder.

``load_settings`` reads two TOML files; a metric batch must not pay that on every request,
and a changed limit takes effect when the server restarts, like its other settings.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import Request

from cairn.server.auth import state_of
from cairn.settings import Settings, load_settings


@lru_cache(maxsize=64)
def _settings_at(store_dir: Path) -> Settings:
    return load_settings(store_dir)


def settings_of(request: Request) -> Settings:
    """The settings of the project the server was started on."""
    return _settings_at(state_of(request).project.store_dir)
