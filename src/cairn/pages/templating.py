"""The Jinja2 environment of the pages and of ``cairn report``: one set of filters for both.

Autoescaping is always on: every name, param, log line and diff shown comes from a run, and a
run can hold any text.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cairn._util import sizes
from cairn._util.fmt import fmt_value
from cairn._util.jsonsafe import clean
from cairn._util.text import displayable
from cairn._util.timefmt import ago, duration, iso_ms
from cairn.errors import MissingExtra

if TYPE_CHECKING:
    import jinja2

UI_DIR = Path(__file__).parent
TEMPLATES_DIR = UI_DIR / "templates"
STATIC_DIR = UI_DIR / "static"


def script_json(value: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">`` (no ``</script>``)."""
    text = json.dumps(clean(value), separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _command(argv: Sequence[str] | None) -> str:
    return shlex.join(argv) if argv else ""


def make_environment(folders: Sequence[Path]) -> jinja2.Environment:
    """An environment loading templates from ``folders`` (first match wins)."""
    try:
        import jinja2
        import markupsafe
    except ImportError as exc:
        raise MissingExtra("jinja2", "server") from exc
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        autoescape=True, trim_blocks=True, lstrip_blocks=True,
        undefined=jinja2.ChainableUndefined,  # optional record fields read as empty
    )
    env.filters.update({
        "fmt": fmt_value, "ago": ago, "duration": duration, "iso": iso_ms, "size": sizes.human_size,
        "urlpath": lambda s: quote(str(s), safe="/"), "command": _command,
        "script_json": lambda v: markupsafe.Markup(script_json(v)),
    })
    return env


@lru_cache(maxsize=1)
def ui_environment() -> jinja2.Environment:
    return make_environment([TEMPLATES_DIR])


def render(name: str, **context: Any) -> str:
    """The page as text that always encodes: a run stored before text was checked may hold a
    lone surrogate, which would otherwise fail the page for every reader."""
    return displayable(ui_environment().get_template(name).render(**context))
