"""Text that can be stored and shown: no lone surrogates, no NUL characters.

Python strings may hold lone surrogates (``"\\ud800"``: from a JSON escape, or from a command
line argument whose bytes are not UTF-8) and NUL characters. Neither can be encoded as UTF-8
(surrogates) or stored in a PostgreSQL text column (NUL), and a page that holds one fails to
render. So every boundary refuses them with one sentence (``require_text``), and every page
replaces them in what was stored before (``displayable``).
"""

from __future__ import annotations

from typing import Any

from cairn.errors import InvalidInput

#: How deep ``first_bad_text`` looks into nested values before it calls them too deep.
MAX_NESTING = 64


def bad_text(text: str) -> str | None:
    """Why ``text`` cannot be stored (``None`` when it can); cheap for ASCII text."""
    if text.isascii():
        return "holds a NUL character" if "\0" in text else None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    return "holds a NUL character" if "\0" in text else None


def require_text(text: str, what: str) -> str:
    """``text`` itself, or ``InvalidInput`` naming ``what`` (e.g. "the tag key 'x'")."""
    problem = bad_text(text)
    if problem is not None:
        raise InvalidInput(f"{what} {problem}")
    return text


def first_bad_text(value: Any, where: str) -> str | None:
    """A sentence about the first string in ``value`` (keys included) that cannot be stored;
    ``where`` names the value ("the request body", "the params").

    Walks dicts, lists and tuples without recursion, so a value nested thousands deep is
    answered with a sentence instead of a ``RecursionError``.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            problem = bad_text(item)
            if problem is not None:
                return f"a string in {where} {problem}"
        elif isinstance(item, dict | list | tuple):
            if depth >= MAX_NESTING:
                return f"{where} nests deeper than {MAX_NESTING} levels"
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, inner in pairs:
                if isinstance(key, str) and (problem := bad_text(key)) is not None:
                    return f"a key in {where} {problem}"
                stack.append((inner, depth + 1))
    return None


def require_clean(value: Any, where: str) -> None:
    """Refuse ``value`` when any string in it (keys included) cannot be stored."""
    problem = first_bad_text(value, where)
    if problem is not None:
        raise InvalidInput(problem)


def displayable(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udXXX``: safe to encode as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
