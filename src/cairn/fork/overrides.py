"""What a fork changes: ``--set KEY=VALUE`` params and ``--input PATH=NEWPATH`` swaps.

A param is changed where the run got it from. A key found in the run's params file is
rewritten there (``paramfile``); otherwise the recorded command line is edited: ``--lr 0.1``
and ``--lr=0.1`` get the new value, a bare ``--verbose`` is removed by ``false``, and a key
spelled with underscores also matches its dashed flag (argparse turns ``--n-estimators``
into ``n_estimators``). A param the run recorded but whose flag is not on the command line
(an argparse default) gets the flag appended, spelled in the style the command already uses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cairn.capture.params import parse_scalar
from cairn.errors import InvalidInput, NotFound

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_NEGATIVE_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


@dataclass(frozen=True)
class Change:
    """One thing the fork changed, for the user to read."""

    kind: str  # param | input | command
    key: str
    before: Any
    after: Any
    where: str


@dataclass(frozen=True)
class InputSwap:
    """Replace the run's input at ``path`` (relative to the project root) by ``source``."""

    path: str
    source: Path


def parse_sets(pairs: Sequence[str]) -> dict[str, str]:
    """``["lr=0.01", "model.depth=4"]`` -> ``{"lr": "0.01", "model.depth": "4"}``."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            raise InvalidInput(
                f"a param override is written KEY=VALUE (as --set lr=0.01), not {pair!r}")
        if key in out:
            raise InvalidInput(f"--set gives {key!r} twice; give each param once")
        out[key] = value
    return out


def normalize_rel(raw: str) -> str | None:
    """``./data/`` -> ``data``; None for a path that leaves its folder or is absolute."""
    text = raw.strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if pure.is_absolute():
        return None
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def parse_input_swaps(pairs: Sequence[str], cwd: Path) -> list[InputSwap]:
    """``["data/=~/my-data"]`` -> swaps; the new files must exist."""
    swaps: list[InputSwap] = []
    seen: set[str] = set()
    for pair in pairs:
        path, sep, new = pair.partition("=")
        if not sep or not path.strip() or not new.strip():
            raise InvalidInput(
                f"an input swap is written PATH=NEWPATH (as --input data/=~/my-data), "
                f"not {pair!r}")
        rel = normalize_rel(path)
        if rel is None:
            raise InvalidInput(f"{path!r} is not a path inside the run's project; name the "
                               "input as the run recorded it (see: cairn show RUN)")
        if rel in seen:
            raise InvalidInput(f"--input swaps {rel!r} twice; give each input once")
        seen.add(rel)
        source = Path(new.strip()).expanduser()
        source = (source if source.is_absolute() else cwd / source).resolve()
        if not source.exists():
            raise NotFound(f"the replacement for {rel} ({new.strip()!r}) does not exist; "
                           "nothing was run")
        swaps.append(InputSwap(rel, source))
    return swaps


# -- the command line ---------------------------------------------------------------------------
def _is_value(token: str) -> bool:
    return token == "-" or not token.startswith("-") or bool(_NEGATIVE_NUMBER.fullmatch(token))


def flag_spellings(key: str) -> list[str]:
    """The flags that set ``key``: ``n_estimators`` -> ``--n_estimators``, ``--n-estimators``."""
    names = [key, key.replace("_", "-"), key.replace("-", "_")]
    return list(dict.fromkeys(f"--{n}" for n in names))


def _flag_positions(argv: Sequence[str], key: str) -> list[int]:
    spellings = set(flag_spellings(key))
    return [i for i, tok in enumerate(argv) if i > 0 and tok.startswith("--")
            and tok.partition("=")[0] in spellings]


def set_flag(argv: Sequence[str], key: str, value: str) -> list[str] | None:
    """``argv`` with the flag for ``key`` set to ``value``; None when the flag is not there."""
    positions = _flag_positions(argv, key)
    if not positions:
        return None
    if len(positions) > 1:
        raise InvalidInput(
            f"{argv[positions[0]].partition('=')[0]} appears {len(positions)} times in the "
            "run's command, so --set cannot tell which to change",
            hint="give the whole command after --: cairn fork RUN -- CMD ...")
    i = positions[0]
    out = list(argv)
    flag, eq, _old = out[i].partition("=")
    if eq:
        out[i] = f"{flag}={value}"
    elif i + 1 < len(out) and _is_value(out[i + 1]):
        if _is_value(value):
            out[i + 1] = value
        else:
            out[i:i + 2] = [f"{flag}={value}"]
    else:  # a bare switch such as --verbose
        parsed = parse_scalar(value)
        if parsed is False:
            del out[i]
        elif parsed is not True and _is_value(value):
            out.insert(i + 1, value)
        elif parsed is not True:
            out[i] = f"{flag}={value}"
    return out


def _flag_style(argv: Sequence[str]) -> str:
    """``_`` when the command's flags are spelled with underscores (and none with dashes)."""
    names = [tok[2:].partition("=")[0] for tok in argv[1:] if tok.startswith("--")]
    under = any("_" in n for n in names)
    dashed = any("-" in n for n in names)
    return "_" if under and not dashed else "-"


def add_flag(argv: Sequence[str], key: str, value: str) -> list[str] | None:
    """``argv`` with ``--key value`` appended; None when ``value`` is false (a switch left off)."""
    style = _flag_style(argv)
    name = key.replace("-", "_") if style == "_" else key.replace("_", "-")
    parsed = parse_scalar(value)
    if parsed is False:
        return None
    if parsed is True:
        return [*argv, f"--{name}"]
    if not _is_value(value):
        return [*argv, f"--{name}={value}"]
    return [*argv, f"--{name}", value]


def same_value(recorded: object, wanted: str) -> bool:
    """Whether a recorded param is the value given on the command line, as text or number."""
    parsed = parse_scalar(wanted)
    if recorded == parsed or str(recorded) == wanted:
        return True
    if isinstance(recorded, (int, float)) and isinstance(parsed, (int, float)) \
            and not isinstance(recorded, bool):
        return float(recorded) == float(parsed)
    return False
