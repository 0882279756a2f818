"""Rewriting the params file a run read (YAML, JSON or TOML) with a fork's new values.

YAML and TOML are edited line by line, so the file keeps its comments and layout and the
fork's code diff shows only the values that changed. Every rewrite is checked by parsing the
result: it must give exactly the old params with the new values. A YAML edit that fails the
check falls back to writing the whole mapping; a TOML file (the standard library cannot
write TOML) is refused with the key named.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
import uuid
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from cairn.capture.params import flatten, load_params_file, parse_scalar
from cairn.errors import InvalidInput, PermissionDenied

_KINDS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}


def rewrite_params_file(path: Path, overrides: Mapping[str, str]) -> None:
    """Set each dotted key of ``overrides`` (all present in the file) to its parsed value."""
    kind = _KINDS.get(path.suffix.lower())
    if kind is None:  # load_params_file has already refused other suffixes
        raise InvalidInput(f"cannot rewrite params file {path.name}: unknown format")
    text = path.read_text(encoding="utf-8")
    values = {k: parse_scalar(v) for k, v in overrides.items()}
    expected = {**load_params_file(path), **values}
    new_text: str | None = None
    if kind == "yaml":
        new_text = _edit_yaml(text, values)
        if new_text is None or _flat(new_text, kind) != expected:
            new_text = _dump_yaml(_parse(text, kind), values)
    elif kind == "toml":
        new_text = _edit_toml(text, values)
    else:
        tree = _parse(text, kind)
        for key, value in values.items():
            _set_nested(tree, key, value)
        indent = 2 if "\n" in text.strip() else None
        new_text = json.dumps(tree, indent=indent, ensure_ascii=False) + "\n"
    if new_text is None or _flat(new_text, kind) != expected:
        keys = ", ".join(sorted(values))
        raise InvalidInput(f"cannot rewrite {keys} in the params file {path.name} safely",
                           hint="edit a checkout by hand: cairn checkout RUN, then cairn run")
    _write(path, new_text)


def _parse(text: str, kind: str) -> Any:
    if kind == "json":
        return json.loads(text)
    if kind == "toml":
        return tomllib.loads(text)
    import yaml

    return yaml.safe_load(text)


def _flat(text: str, kind: str) -> dict[str, Any] | None:
    try:
        tree = _parse(text, kind)
    except Exception:  # each parser has its own error type; any failure means "not this"
        return None
    return flatten(tree) if isinstance(tree, Mapping) else None


def _set_nested(tree: MutableMapping[str, Any], key: str, value: Any) -> bool:
    """Set ``key`` (dots descend into mappings; a literal dotted key wins) in ``tree``."""
    if key in tree and not isinstance(tree[key], Mapping):
        tree[key] = value
        return True
    for name, child in tree.items():
        if isinstance(child, MutableMapping) and key.startswith(f"{name}.") \
                and _set_nested(child, key[len(name) + 1:], value):
            return True
    return False


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.cairn-{uuid.uuid4().hex[:8]}")
    try:
        mode = path.stat().st_mode & 0o777
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PermissionDenied(f"cannot rewrite {path}: {exc.strerror}") from exc


# -- YAML --------------------------------------------------------------------------------------
def _yaml_scalar(value: Any) -> str:
    import yaml

    text: str = yaml.safe_dump(value, default_flow_style=True)
    return text.removesuffix("\n...\n").strip()


def _dump_yaml(tree: Any, values: Mapping[str, Any]) -> str:
    import yaml

    for key, value in values.items():
        _set_nested(tree, key, value)
    dumped: str = yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)
    return dumped


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _edit_yaml(text: str, values: Mapping[str, Any]) -> str | None:
    lines = text.splitlines(keepends=True)
    for key, value in values.items():
        if not _edit_yaml_key(lines, key.split("."), _yaml_scalar(value)):
            return None
    return "".join(lines)


def _edit_yaml_key(lines: list[str], segments: list[str], new: str) -> bool:
    start, end, parent = 0, len(lines), -1
    for depth, segment in enumerate(segments):
        child = next((_indent(ln) for ln in lines[start:end] if _meaningful(ln)), None)
        if child is None or child <= parent:
            return False
        pattern = re.compile(rf"^( {{{child}}}(['\"]?){re.escape(segment)}\2\s*:)([ \t]*)"
                             r"([^#\r\n]*?)([ \t]+#[^\r\n]*)?(\r?\n)?$")
        for j in range(start, end):
            match = pattern.match(lines[j])
            if match is None:
                continue
            if depth == len(segments) - 1:
                if not match.group(4):
                    return False  # a block below, not a value on this line
                lines[j] = (f"{match.group(1)} {new}{match.group(5) or ''}"
                            f"{match.group(6) or ''}")
                return True
            start, parent = j + 1, child
            end = next((k for k in range(start, len(lines))
                        if _meaningful(lines[k]) and _indent(lines[k]) <= child), len(lines))
            break
        else:
            return False
    return False


# -- TOML --------------------------------------------------------------------------------------
def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def _toml_key(raw: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in raw.split("."))


_TOML_LINE = re.compile(r"^(\s*)([A-Za-z0-9_\-.\"' ]+?)(\s*=\s*)(.*?)(\s+#.*)?(\r?\n)?$")


def _edit_toml(text: str, values: Mapping[str, Any]) -> str | None:
    lines = text.splitlines(keepends=True)
    todo = dict(values)
    table: str | None = ""
    for j, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("[["):
            table = None  # arrays of tables are not addressed by dotted keys
            continue
        if stripped.startswith("["):
            table = _toml_key(stripped.strip("[]").split("]")[0])
            continue
        match = _TOML_LINE.match(line)
        if table is None or match is None or stripped.startswith("#"):
            continue
        key = _toml_key(match.group(2))
        full = f"{table}.{key}" if table else key
        if full in todo:
            value = todo.pop(full)
            lines[j] = (f"{match.group(1)}{match.group(2)}{match.group(3)}"
                        f"{_toml_scalar(value)}{match.group(5) or ''}{match.group(6) or ''}")
    return None if todo else "".join(lines)
