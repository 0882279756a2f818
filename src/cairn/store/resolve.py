"""Turning what a user typed (``7``, ``last``, ``0193ab``, ``baseline``) into one run."""

from __future__ import annotations

import re

from cairn._util.text import require_text
from cairn.errors import Ambiguous, InvalidInput, NotFound
from cairn.store.core import MetaStore
from cairn.store.runs import RunRow, get_run

_HEX = re.compile(r"^[0-9a-f]{4,32}$")


def resolve_run(store: MetaStore, ref: str) -> RunRow:
    """A run number, ``last``, a unique id prefix (4+ characters) or a run name."""
    ref = ref.strip()
    if not ref:
        raise InvalidInput("an empty run reference; give a run number, id prefix, name or 'last'")
    require_text(ref, "the run reference")
    db, pid = store.db, store.project_id
    if ref == "last":
        row = db.query_one(
            "SELECT id FROM runs WHERE project_id = ? ORDER BY number DESC LIMIT 1", (pid,)
        )
        if row is None:
            raise NotFound("there are no runs yet", hint="start one with: cairn run -- CMD")
        return get_run(store, row[0])
    # ``isdigit`` also holds for "¹" and "٣", which ``int`` refuses: numbers are ASCII digits.
    if ref.isascii() and ref.isdecimal() and len(ref) < 10:
        row = db.query_one("SELECT id FROM runs WHERE project_id = ? AND number = ?",
                           (pid, int(ref)))
        if row is not None:
            return get_run(store, row[0])
    if len(ref) == 32 and _HEX.match(ref.lower()):  # a full id: one index lookup
        row = db.query_one("SELECT id FROM runs WHERE project_id = ? AND id = ?",
                           (pid, ref.lower()))
        if row is not None:
            return get_run(store, row[0])
    candidates: list[tuple[str, int, str | None]] = []
    if _HEX.match(ref.lower()):
        candidates = [
            (r[0], r[1], r[2]) for r in db.query(
                "SELECT id, number, name FROM runs WHERE project_id = ? AND id LIKE ? "
                "ORDER BY number DESC LIMIT 6", (pid, ref.lower() + "%"),
            )
        ]
    if not candidates:
        candidates = [
            (r[0], r[1], r[2]) for r in db.query(
                "SELECT id, number, name FROM runs WHERE project_id = ? AND name = ? "
                "ORDER BY number DESC LIMIT 6", (pid, ref),
            )
        ]
    if len(candidates) == 1:
        return get_run(store, candidates[0][0])
    if not candidates:
        raise NotFound(
            f"no run matches {ref!r}",
            hint="a run is named by its number, a 4+ character id prefix, its name, or 'last'"
            " (see: cairn ls)",
        )
    listed = ", ".join(f"{num} ({rid}{' ' + name if name else ''})"
                       for rid, num, name in candidates[:5])
    raise Ambiguous(f"{ref!r} matches several runs: {listed}",
                    hint="use the run number or a longer id prefix")
