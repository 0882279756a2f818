"""Ground truth joined to logged predictions: ``POST /feedback``.

A request's labels are checked and applied in one transaction (one ``executemany``), so
thousands of labels cost one commit, and concurrent requests share a transaction (a group
commit, ``FeedbackWriter``). A request naming any unknown prediction is refused whole and the
answer lists the unknown ids, so the client can resend the rest; nothing is half applied. A
label sent again for the same prediction replaces the old one and is counted
(``predictions.feedback_count``).

A prediction answered a moment ago may still wait in a server's log queue, its own or another
worker's. Its id carries the millisecond it was made (UUIDv7), so an unknown id younger than
``grace_ms`` is waited for (the local queue is flushed first) before it is called unknown.

A label is at most ``MAX_LABEL_BYTES`` of JSON: it is stored beside its prediction, shown in
the monitor and the web UI and trained on by ``cairn retrain``, so one client sending
megabytes per label would bloat all of them; a request holding a larger label is refused
whole (413).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cairn._util.ids import now_ms
from cairn.errors import InvalidInput, TooLarge, UnknownPredictions
from cairn.model_server.predictions import prediction_time_ms
from cairn.store.db import Database
from cairn.store.predictions import label_targets, write_labels

MAX_BATCH = 100_000
MAX_LABEL_BYTES = 64 * 1024
GRACE_MS = 3_000


@dataclass(frozen=True)
class FeedbackResult:
    accepted: int
    duplicates: int  # labels that replaced an earlier label

    def to_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates}


def parse_feedback(body: Any) -> list[tuple[str, str]]:
    """``{"prediction_id", "label"}`` or a list of them -> [(id, label as JSON text)]."""
    if isinstance(body, dict) and "feedback" in body and "prediction_id" not in body:
        body = body["feedback"]
    items = body if isinstance(body, list) else [body]
    if not items:
        raise InvalidInput("the feedback list is empty")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"at most {MAX_BATCH:,} labels per request; got {len(items):,}")
    out: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        where = f"item {i}: " if isinstance(body, list) else ""
        if not isinstance(item, dict):
            raise InvalidInput(f"{where}feedback must be an object with prediction_id and label")
        pid = item.get("prediction_id")
        if not isinstance(pid, str) or not pid:
            raise InvalidInput(f"{where}prediction_id is missing or not a string")
        if "label" not in item or item["label"] is None:
            raise InvalidInput(f"{where}label is missing for {pid}")
        try:
            label = json.dumps(item["label"], allow_nan=False)
        except ValueError as exc:
            raise InvalidInput(f"{where}label for {pid} is not a finite JSON value") from exc
        if len(label) > MAX_LABEL_BYTES:  # json.dumps escapes to ASCII: characters are bytes
            raise TooLarge(f"{where}the label for {pid} is {len(label):,} bytes of JSON; "
                                  f"a label may have at most {MAX_LABEL_BYTES:,}")
        out.append((pid, label))
    return out


def apply_feedback(db: Database, model_id: str, items: Sequence[tuple[str, str]]) -> FeedbackResult:
    """Record the labels in one transaction, or raise UnknownPredictions and record none."""
    result = apply_groups(db, model_id, [items])[0]
    if isinstance(result, UnknownPredictions):
        raise result
    return result


def apply_groups(db: Database, model_id: str, groups: Sequence[Sequence[tuple[str, str]]]
                 ) -> list[FeedbackResult | UnknownPredictions]:
    """Several requests' labels in one transaction (a group commit); a group naming an unknown
    prediction is left out whole and answered with the error, the others are recorded."""
    ids = list(dict.fromkeys(pid for items in groups for pid, _ in items))
    at = now_ms()
    results: list[FeedbackResult | UnknownPredictions] = []
    with db.write() as w:
        labelled: dict[str, int] = {}
        versions: dict[str, int] = {}
        for pid, target in label_targets(w, ids).items():
            if target.model_id == model_id:
                labelled[pid] = target.feedback_count
                versions[pid] = target.version
        updates: list[tuple[str, int, str]] = []
        counts: dict[int, tuple[int, int]] = {}  # version -> (newly labelled, labels)
        for items in groups:
            unique = list(dict.fromkeys(pid for pid, _ in items))
            unknown = [pid for pid in unique if pid not in labelled]
            if unknown:
                results.append(UnknownPredictions(unknown, len(unique)))
                continue
            duplicates = 0
            for pid, label in items:
                seen = labelled[pid] > 0
                duplicates += seen
                labelled[pid] += 1
                updates.append((label, at, pid))
                new, received = counts.get(versions[pid], (0, 0))
                counts[versions[pid]] = (new + (not seen), received + 1)
            results.append(FeedbackResult(len(items), duplicates))
        write_labels(w, model_id, updates, counts)
    return results


def submit_feedback(db: Database, model_id: str, items: Sequence[tuple[str, str]], *,
                    flush: Callable[[], object] | None = None,
                    grace_ms: int = GRACE_MS) -> FeedbackResult:
    """``apply_feedback``, waiting briefly for predictions still on their way to the store."""
    try:
        return apply_feedback(db, model_id, items)
    except UnknownPredictions as exc:
        now = now_ms()
        young = [t for t in map(prediction_time_ms, exc.ids) if t is not None and t <= now + 1000
                 and now - t < grace_ms]
        if len(young) < len(exc.ids):
            raise
        if flush is not None:
            flush()
        deadline = time.monotonic() + (grace_ms - (now - min(young))) / 1000
        while True:
            try:
                return apply_feedback(db, model_id, items)
            except UnknownPredictions:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)


class FeedbackWriter:
    """Group commit for concurrent feedback requests on one event loop.

    While one transaction is being written (in a worker thread), the requests that arrive
    wait together and go into the next one, so sixteen clients sending one label each cost
    one commit per round instead of sixteen competing for SQLite's write lock.
    """

    def __init__(self, db: Database, model_id: str,
                 flush: Callable[[], object] | None = None) -> None:
        self.db = db
        self.model_id = model_id
        self.flush = flush
        self.commits = 0
        self._pending: list[tuple[Sequence[tuple[str, str]], asyncio.Future[FeedbackResult]]] = []
        self._draining = False

    async def submit(self, items: Sequence[tuple[str, str]]) -> FeedbackResult:
        future: asyncio.Future[FeedbackResult] = asyncio.get_running_loop().create_future()
        self._pending.append((items, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        from starlette.concurrency import run_in_threadpool

        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    results = await run_in_threadpool(apply_groups, self.db, self.model_id,
                                                      [items for items, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.commits += 1
                for (items, future), result in zip(batch, results, strict=True):
                    if isinstance(result, UnknownPredictions):
                        asyncio.get_running_loop().create_task(self._slow(items, future))
                    elif not future.done():
                        future.set_result(result)
        finally:
            self._draining = False

    async def _slow(self, items: Sequence[tuple[str, str]],
                    future: asyncio.Future[FeedbackResult]) -> None:
        """Unknown ids: wait for predictions still on their way, alone (see the module doc)."""
        from starlette.concurrency import run_in_threadpool

        try:
            result = await run_in_threadpool(submit_feedback, self.db, self.model_id, items,
                                             flush=self.flush)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            return
        if not future.done():
            future.set_result(result)
