"""``cairn push``: send runs and everything they refer to, only what the remote lacks.

For each run: build its bundle locally, ask the remote which of its objects are missing (in
batches), send those in parallel (files before the trees that list them), and only then the
bundle. An interrupted push therefore leaves objects but no run on the remote, and pushing
again sends only what is still missing; a run pushed twice sends no objects the second time.

A finished run is immutable on the remote too: when the remote holds a finished copy of the
run with other content, the push is refused with what differs before any object moves. A
bucket checks nothing itself, so this is what keeps a push from overwriting a finished run
there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from cairn.errors import Conflict, Corrupt, NotFound
from cairn.objects.local import LocalObjectStore
from cairn.remote.base import Remote, object_size
from cairn.remote.bundle import (
    differences,
    direct_oids,
    export_run,
    listing,
    split_referenced,
    validate_bundle,
)
from cairn.store.core import MetaStore
from cairn.store.runs import RunRow

DEFAULT_JOBS = 8


class Progress(Protocol):
    """Told how much a transfer will move, then each object as it is done (from any thread)."""

    def start(self, label: str, objects: int, total_bytes: int) -> None: ...

    def advance(self, nbytes: int) -> None: ...

    def finish(self) -> None: ...


@dataclass(frozen=True)
class PushResult:
    run: RunRow
    remote_number: int | None
    objects: int  # objects the run refers to
    sent: int  # of those, sent now
    bytes_sent: int
    created: bool


def transfer(oids: Sequence[str], send: Callable[[str], int], *, jobs: int,
             progress: Progress | None) -> int:
    """Run ``send(oid)`` for every oid on ``jobs`` threads; stop at the first failure."""
    if not oids:
        return 0
    total = 0
    lock = threading.Lock()

    def one(oid: str) -> None:
        nonlocal total
        n = send(oid)
        with lock:
            total += n
        if progress is not None:
            progress.advance(n)

    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="cairn-sync")
    try:
        futures: list[Future[None]] = [pool.submit(one, oid) for oid in oids]
        done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            error = future.exception()
            if error is not None:
                raise error
    finally:
        # On a failure or Ctrl-C, drop what has not started; let the few running ones end.
        pool.shutdown(wait=True, cancel_futures=True)
    return total


def push_run(
    store: MetaStore, local: LocalObjectStore, remote: Remote, run: RunRow,
    *, jobs: int = DEFAULT_JOBS, progress: Progress | None = None,
) -> PushResult:
    bundle = export_run(store, local, run)
    absent_here = local.missing(direct_oids(bundle.doc))
    if absent_here:
        raise Corrupt(f"run {run.number} refers to {len(absent_here)} objects that are not in "
                      f"the local store (first: {absent_here[0]})",
                      hint="cairn fsck names what is damaged")
    blobs, trees = split_referenced(bundle.doc, local)
    absent_here = local.missing(blobs)
    if absent_here:
        raise Corrupt(f"run {run.number} refers to {len(absent_here)} files that are not in the "
                      f"local store (first: {absent_here[0]})", hint="cairn fsck")
    _check_remote_copy(remote, run, bundle.doc)
    wanted = remote.missing(blobs + trees)
    want = set(wanted)
    # Files before the trees that list them: a stored tree vouches for its files.
    # A server takes a tree only once every file it lists is there, so the trees wait until
    # every file has been sent (in parallel, a tree could otherwise overtake its last file).
    first, then = [o for o in blobs if o in want], [o for o in trees if o in want]
    order = first + then
    size = sum(object_size(local, oid) for oid in order)
    if progress is not None:
        progress.start(f"run {run.number} → {remote.name}", len(order), size)
    try:
        sent_bytes = sum(transfer(group, lambda oid: remote.put_object(oid, local), jobs=jobs,
                                  progress=progress) for group in (first, then))
    finally:
        if progress is not None:
            progress.finish()
    answer = remote.put_bundle(run.id, bundle.doc)
    number = answer.get("number")
    return PushResult(run=run, remote_number=number if isinstance(number, int) else None,
                      objects=len(blobs) + len(trees), sent=len(order), bytes_sent=sent_bytes,
                      created=bool(answer.get("created", True)))


def _check_remote_copy(remote: Remote, run: RunRow, doc: dict[str, Any]) -> None:
    """Refuse the push, before any object moves, when the remote's copy is finished and differs.

    A running copy there is updated by this push, and the same content is sent again
    harmlessly (a server writes nothing, a bucket rewrites the same text).
    """
    try:
        there = validate_bundle(remote.get_bundle(run.id))
    except NotFound:
        return
    differ = differences(there, doc)
    if differ and there["run"]["status"] != "running":
        raise Conflict(f"run {run.number} was not pushed: the copy on {remote.name} is already "
                       f"{there['run']['status']}, and a finished run never changes; it "
                       f"differs in {listing(differ)}")


def push_runs(
    store: MetaStore, local: LocalObjectStore, remote: Remote, runs: Iterable[RunRow],
    *, jobs: int = DEFAULT_JOBS, progress: Progress | None = None,
) -> list[PushResult]:
    return [push_run(store, local, remote, run, jobs=jobs, progress=progress) for run in runs]
