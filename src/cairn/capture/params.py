"""Params and metrics from files and command lines.

Params are stored flat, with dotted keys, so that one filter language (``params.model.lr >
0.01``) and one diff work for every source: a YAML config, a JSON file, a TOML file, an
``argparse`` namespace or the ``--flag value`` words of any command.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cairn.errors import InvalidInput, NotFound

_SUFFIXES = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
}

_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?")
_NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _plain(value: Any) -> Any:
    """A JSON-storable form of a parsed leaf (TOML and YAML also produce dates)."""
    if isinstance(value, _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def flatten(tree: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """``{"model": {"lr": 0.1}}`` -> ``{"model.lr": 0.1}``; lists and empty maps stay values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = _plain(value)
    return out


def _error_line(exc: Exception) -> str:
    """The parser's own position, as 'line N', when it gives one."""
    lineno = getattr(exc, "lineno", None)
    if lineno is None:
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            lineno = mark.line + 1
    if lineno is None:
        m = re.search(r"line (\d+)", str(exc))
        lineno = int(m.group(1)) if m else None
    return f"line {lineno}" if lineno is not None else "an unknown line"


def _reason(exc: Exception) -> str:
    """The parser's short reason (``Expecting value``), without its own position text."""
    reason = getattr(exc, "problem", None) or getattr(exc, "msg", None) or str(exc)
    reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(reason).splitlines()[0])
    return f": {reason}" if reason else ""


def _parse(path: Path, kind: str) -> Any:
    text = path.read_text(encoding="utf-8")
    if kind == "json":
        return json.loads(text)
    if kind == "toml":
        return tomllib.loads(text)
    import yaml  # lazily: yaml is only needed for YAML files

    return yaml.safe_load(text)


def _load_tree(path: str | Path, what: str) -> Mapping[str, Any]:
    p = Path(path)
    kind = _SUFFIXES.get(p.suffix.lower())
    if kind is None:
        raise InvalidInput(
            f"{what} file {str(p)!r} must end in .yaml, .yml, .json or .toml",
        )
    try:
        tree = _parse(p, kind)
    except FileNotFoundError:
        raise NotFound(f"{what} file {str(p)!r} does not exist") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{what} file {str(p)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(f"{what} file {str(p)!r} cannot be read: {exc.strerror}") from None
    except Exception as exc:  # each parser has its own error type
        raise InvalidInput(
            f"{what} file {str(p)!r} is not valid {kind.upper()} at {_error_line(exc)}"
            f"{_reason(exc)}"
        ) from None
    if tree is None:
        return {}
    if not isinstance(tree, Mapping):
        raise InvalidInput(
            f"{what} file {str(p)!r} must hold a mapping of names to values, "
            f"not a {type(tree).__name__}"
        )
    return tree


def load_params_file(path: str | Path) -> dict[str, Any]:
    """Params from a YAML, JSON or TOML file (by extension), flattened to dotted keys."""
    return flatten(_load_tree(path, "params"))


def load_metrics_file(path: str | Path) -> dict[str, float]:
    """Numeric leaves of a JSON or YAML metrics file, flattened; other leaves are ignored."""
    return {
        k: float(v)
        for k, v in flatten(_load_tree(path, "metrics")).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def parse_scalar(text: str) -> Any:
    """``"3"`` -> 3, ``"0.1"`` -> 0.1, ``"true"`` -> True; anything else stays a string."""
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return text


def _is_flag(token: str) -> bool:
    return token.startswith("--") and len(token) > 2 and not _NEGATIVE_NUMBER.fullmatch(token)


def _is_value(token: str) -> bool:
    return token == "-" or not token.startswith("-") or bool(_NEGATIVE_NUMBER.fullmatch(token))


def params_from_argv(argv: Iterable[str]) -> dict[str, Any]:
    """Params from the ``--flag value``, ``--flag=value`` and bare ``--flag`` words of a command.

    Used for commands whose parser cairn cannot see (R, shell, compiled programs).
    Positional words and single-dash options are ignored; parsing stops at ``--``. A flag
    given several times records the list of its values.
    """
    tokens = list(argv)
    out: dict[str, Any] = {}

    def put(name: str, value: Any) -> None:
        if name in out:
            prev = out[name]
            out[name] = [*prev, value] if isinstance(prev, list) else [prev, value]
        else:
            out[name] = value

    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "--":
            break
        if not _is_flag(token):
            continue
        name, eq, value = token[2:].partition("=")
        if not name:
            continue
        if eq:
            put(name, parse_scalar(value))
        elif i < len(tokens) and _is_value(tokens[i]):
            put(name, parse_scalar(tokens[i]))
            i += 1
        else:
            put(name, True)
    return out
