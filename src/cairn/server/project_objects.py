"""Which objects each project on a server references: what makes an object visible there.

The server keeps one object store for all its projects, so that equal files are stored once.
But an oid is no secret: it is the hash of the bytes, and whoever can guess the bytes (a
4-digit PIN, a known file with one field changed) can compute it. So the server answers for
an object only through a project that references it: a project references an object once
a writer of that project uploaded its bytes (the upload is streamed and hashed in full even
when the store has them already, which proves possession), or once a run of the project that
refers to it is exported (its files, its packed metrics, the files its trees list).
``POST /objects/missing``, ``HEAD`` and ``GET /objects/{oid}`` and the completeness check of
``PUT /runs/{id}/bundle`` all ask this index, never the shared store alone, so none of them
tells one project anything about another's content.

Each reference is an empty file ``<store>/project-objects/<project id>/ab/cdef…`` beside the
objects, whatever database the server uses: references live where the objects do, cost one
``stat`` to check, and need no schema. Losing one (a crash before the disk flushed it) only
means the project's next push sends that object again.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cairn.objects.base import ObjectStore
from cairn.objects.oid import fanout
from cairn.objects.tree import read_tree
from cairn.remote.bundle import direct_oids, is_tree_object
from cairn.server.state import ServerState

FOLDER = "project-objects"
_PROJECT_ID = re.compile(r"^[0-9a-f]{32}$")
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class ProjectObjects:
    """The references of every project, over the server's shared object store."""

    def __init__(self, root: Path, objects: ObjectStore) -> None:
        self.root = root
        self.objects = objects

    def _path(self, project_id: str, oid: str) -> str:
        if not _PROJECT_ID.match(project_id):  # ids are ours, but they become folder names
            raise ValueError(f"not a project id: {project_id!r}")
        return os.path.join(self.root, project_id, *fanout(oid))

    def has(self, project_id: str, oid: str) -> bool:
        """Whether the project references ``oid`` and the store still holds it."""
        return os.path.exists(self._path(project_id, oid)) and self.objects.has(oid)

    def missing(self, project_id: str, oids: list[str]) -> list[str]:
        """The subset of ``oids`` this project cannot read, in their order."""
        return [oid for oid in oids if not self.has(project_id, oid)]

    def add(self, project_id: str, oids: Iterable[str]) -> None:
        """Record that the project references ``oids`` (which must be in the store)."""
        for oid in oids:
            path = self._path(project_id, oid)
            if os.path.exists(path):
                continue
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | _O_CLOEXEC, 0o644)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | _O_CLOEXEC, 0o644)
            os.close(fd)

    def add_run(self, project_id: str, doc: Mapping[str, Any]) -> None:
        """Record what an exported run of the project refers to, trees' files included.

        Only objects the store holds count: a damaged run names what it lacks elsewhere
        (``cairn fsck``); its bundle is still served.
        """
        present = [oid for oid in direct_oids(doc) if self.objects.has(oid)]
        listed = [e.oid for oid in present if is_tree_object(self.objects, oid)
                  for e in read_tree(self.objects, oid).entries]
        self.add(project_id, present + [oid for oid in listed if self.objects.has(oid)])


def project_objects(state: ServerState) -> ProjectObjects:
    """The references index of a running server (stateless: made per request, cheaply)."""
    return ProjectObjects(state.project.store_dir / FOLDER, state.objects)
