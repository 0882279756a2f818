"""Terminal rendering shared by the commands: one console, value formats, JSON output."""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

from cairn._util.jsonsafe import clean

if TYPE_CHECKING:
    from rich.console import Console

STATUS_STYLE = {
    "running": "bold blue", "finished": "green", "failed": "bold red", "killed": "yellow",
    "crashed": "bold magenta",
}
VERDICT_STYLE = {"REPRODUCED": "green", "DIVERGED": "bold yellow", "FAILED": "bold red"}

_console: Console | None = None
_err_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        from rich.console import Console

        # Piped output is read by programs and pagers: never squeeze it to 80 columns.
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 250
        _console = Console(highlight=False, soft_wrap=False, width=width)
    return _console


def err_console() -> Console:
    global _err_console
    if _err_console is None:
        from rich.console import Console

        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, '')}]{status}[/]"


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(clean(data), indent=2, default=_json_default) + "\n")
