"""How many distinct metric keys, params and tags one run may hold.

One run with 100,000 metric keys made the runs page 26 MB for every reader, so each write
that adds keys first counts them: a batch that would take a run past its limit is refused
whole, with one sentence, and nothing of it is written.
"""

from __future__ import annotations

from collections.abc import Collection

from cairn.errors import InvalidInput
from cairn.store.db import Database, Row, Writer

#: Tables keyed by ``(run_id, key)`` and what their keys are called in a sentence.
_TABLES = {"latest_metrics": "metric keys", "params": "params", "tags": "tags"}


def check_key_budget(q: Writer | Database, table: str, run_id: str, keys: Collection[str],
                     limit: int) -> None:
    """Refuse ``keys`` when the run would then hold more than ``limit`` distinct ones.

    ``q`` is a ``Writer`` (inside the transaction that writes the keys, so concurrent batches
    cannot both pass) or a ``Database``. One ``COUNT`` answers the usual case; only a batch
    that might pass the limit reads the run's keys to leave out those it already has.
    """
    if not keys:
        return
    what = _TABLES[table]
    def run(sql: str) -> list[Row]:
        return q.execute(sql, (run_id,)) if isinstance(q, Writer) else q.query(sql, (run_id,))

    held = int(run(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?")[0][0])
    if held + len(keys) <= limit:
        return
    existing = {str(r[0]) for r in run(f"SELECT key FROM {table} WHERE run_id = ?")}
    new = sum(1 for k in set(keys) if k not in existing)
    if new and held + new > limit:
        raise InvalidInput(
            f"this would give the run {held + new:,} {what}, over the limit of {limit:,} "
            f"per run; nothing of it was written",
            hint=f"log fewer distinct {what}, or raise [limits] in .cairn/config.toml",
        )
