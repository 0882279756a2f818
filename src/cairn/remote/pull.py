"""``cairn pull REMOTE:RUN``: fetch a run and the objects it refers to that are missing here.

The run reference is resolved on the remote (number, id prefix, name or ``last``). Objects
are fetched in parallel and verified against their names. The bundle's own objects are first
staged in a scratch folder, because some are trees: a tree enters the store only after every
file it lists, so a stored tree always vouches for its files here too. The run keeps its id
and author, gets the next free local number, and remembers where it came from in
the record's ``origin`` (remote, url and the remote's number).

A run already here is never replaced by a copy with other content once it is finished, nor
while it runs when it was recorded here: the pull is refused with one sentence naming what
differs, before anything is fetched. The same content again fetches and writes nothing.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass

from cairn.errors import Conflict
from cairn.objects.local import LocalObjectStore
from cairn.objects.tree import check_links, read_tree
from cairn.remote.base import Remote
from cairn.remote.bundle import (
    direct_oids,
    existing_copy,
    import_bundle,
    is_tree_object,
    validate_bundle,
)
from cairn.remote.push import DEFAULT_JOBS, Progress, transfer
from cairn.store.core import MetaStore
from cairn.store.record import Origin
from cairn.store.runs import RunRow


@dataclass(frozen=True)
class PullResult:
    run: RunRow
    remote_number: int | None
    fetched: int
    bytes_fetched: int
    created: bool
    changed: bool = True  # False: the same run was here already; nothing was fetched


def pull_run(
    store: MetaStore, local: LocalObjectStore, remote: Remote, ref: str,
    *, jobs: int = DEFAULT_JOBS, progress: Progress | None = None,
) -> PullResult:
    brief = remote.resolve(ref)
    doc = validate_bundle(remote.get_bundle(str(brief["id"])))
    number = doc["run"].get("number") if brief.get("number") is None else brief["number"]
    try:
        kept = existing_copy(store, doc)
    except Conflict as exc:
        raise Conflict(f"{remote.name}:{ref} was not pulled: {exc.message}") from None
    if kept is not None:
        return PullResult(run=kept.run, remote_number=number if isinstance(number, int) else None,
                          fetched=0, bytes_fetched=0, created=False, changed=False)
    label = f"run {number} ← {remote.name}"
    staging = LocalObjectStore(local.root / "tmp" / f"pull-{uuid.uuid4().hex}", fsync=False)
    fetched = received = 0
    try:
        def fetch(oids: list[str], into: LocalObjectStore, size: int) -> int:
            if progress is not None:
                progress.start(label, len(oids), size)
            try:
                return transfer(oids, lambda oid: remote.get_object(oid, into), jobs=jobs,
                                progress=progress)
            finally:
                if progress is not None:
                    progress.finish()

        direct = local.missing(direct_oids(doc))
        received += fetch(direct, staging, 0)  # trees and small documents, checked first
        trees = [oid for oid in direct if is_tree_object(staging, oid)]
        files = {e.oid: e.size for oid in trees for e in read_tree(staging, oid).entries}
        wanted = local.missing(list(files))
        received += fetch(wanted, local, sum(files[o] for o in wanted))
        for oid in trees:  # before any tree enters the store or the run is imported
            check_links(local, read_tree(staging, oid), f"the pulled tree {oid[:12]}")
        tree_set = set(trees)
        for oid in [o for o in direct if o not in tree_set] + trees:  # trees last
            local.put_file(staging.path_for(oid), oid)
        fetched = len(direct) + len(wanted)
    finally:
        shutil.rmtree(staging.root, ignore_errors=True)
    origin = Origin(remote.name, remote.url, number if isinstance(number, int) else None)
    try:
        with store.db.write() as w:
            imported = import_bundle(w, store, local, doc, origin=origin)
    except Conflict as exc:  # changed here while the objects came
        raise Conflict(f"{remote.name}:{ref} was not pulled: {exc.message}") from None
    return PullResult(run=imported.run, remote_number=number if isinstance(number, int) else None,
                      fetched=fetched, bytes_fetched=received, created=imported.created,
                      changed=imported.changed)
