"""Integrity check of an object store: rehash every object, follow every tree.

An object is *corrupt* when its bytes no longer hash to its name (a flipped bit on disk, a
truncated upload, a hand edit), or when it starts like a tree manifest (``{"cairn-tree":``,
see ``tree.py``) but does not parse as one. An oid is *missing* when a stored tree lists it
but the store does not hold it, which is what a user meets later as a failed checkout.
Entries of a corrupt tree are not followed: they cannot be trusted.

fsck is also housekeeping: temporary files that writers killed long ago left in a local
store's ``tmp/`` (an interrupted upload can be gigabytes) are removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cairn.errors import Corrupt, NotFound
from cairn.objects.base import ObjectStore
from cairn.objects.hashing import hash_bytes
from cairn.objects.tree import TREE_MAGIC, Tree


@dataclass(frozen=True)
class FsckReport:
    """What ``fsck`` found; ``corrupt`` and ``missing`` are sorted oids."""

    checked: int
    corrupt: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    trees: int = 0
    temporaries_removed: int = 0
    temporary_bytes_removed: int = 0

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.missing


def fsck(store: ObjectStore, *, progress: Callable[[int, int], None] | None = None) -> FsckReport:
    """Rehash every object in ``store`` and report corrupt and missing ones.

    ``progress`` is called with (objects checked, objects in total).
    """
    remove_stale = getattr(store, "remove_stale_temporaries", None)
    stale_files, stale_bytes = remove_stale() if remove_stale is not None else (0, 0)
    oids = list(store.iter_oids())
    present = set(oids)
    corrupt: list[str] = []
    referenced: set[str] = set()
    checked = trees = 0
    for done, oid in enumerate(oids, 1):
        try:
            with store.open(oid) as f:
                head = f.read(len(TREE_MAGIC))
            if head == TREE_MAGIC:
                data = store.get_bytes(oid)
                if hash_bytes(data) != oid:
                    corrupt.append(oid)
                else:
                    referenced.update(e.oid for e in Tree.from_bytes(data).entries)
                    trees += 1
            elif not store.verify(oid):
                corrupt.append(oid)
        except NotFound:  # deleted while we were looking: nothing left to check
            present.discard(oid)
            continue
        except Corrupt:
            corrupt.append(oid)
        checked += 1
        if progress is not None:
            progress(done, len(oids))
    return FsckReport(
        checked=checked,
        corrupt=sorted(corrupt),
        missing=sorted(referenced - present),
        trees=trees,
        temporaries_removed=stale_files,
        temporary_bytes_removed=stale_bytes,
    )
