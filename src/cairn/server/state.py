"""What a running server holds: the project's store, its objects, and its settings.

One ``ServerState`` lives on ``app.state.cairn``. Handlers (the API's and the web UI's) reach
the metadata of a project with ``state.store(name)``: the server's own project by default,
any other project in the same database by name.
"""

from __future__ import annotations

import getpass
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cairn.errors import NotFound
from cairn.objects.local import LocalObjectStore
from cairn.project import STORE_DIRNAME, Project
from cairn.store.core import MetaStore, find_project, open_store
from cairn.store.credentials import TokenChecker
from cairn.store.db import Database

DEFAULT_MAX_UPLOAD = 5 * 1024**3  # one object; larger ones are refused with 413


@dataclass
class UploadStats:
    """Counts of objects received, for logs and tests (``PUT /api/v1/objects/{oid}``)."""

    objects: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, size: int) -> None:
        with self._lock:
            self.objects += 1
            self.bytes += size


class ServerState:
    def __init__(
        self, project: Project, *, auth: bool, max_upload: int = DEFAULT_MAX_UPLOAD,
    ) -> None:
        self.project = project
        self.auth = auth
        self.max_upload = max_upload
        main = open_store(project)
        self.db: Database = main.db
        self.default_project = main.project_name
        self.objects = LocalObjectStore(project.objects_dir)
        self.upload_dir = project.objects_dir / "tmp"
        from cairn.server.uploads import remove_abandoned_uploads

        remove_abandoned_uploads(self.upload_dir)  # left by a server killed mid-upload
        self.objects.remove_stale_temporaries()
        self.tokens = TokenChecker(self.db)
        self.local_user = _local_user()
        self.stats = UploadStats()
        self._stores: dict[str, MetaStore] = {main.project_name: main}
        self._lock = threading.Lock()

    def store(self, name: str | None = None) -> MetaStore:
        """The metadata of project ``name`` (default: the server's own project)."""
        name = name or self.default_project
        with self._lock:
            found = self._stores.get(name)
        if found is not None:
            return found
        project_id = find_project(self.db, name)
        if project_id is None:
            raise NotFound(f"no project named {name!r} on this server")
        made = MetaStore(db=self.db, project_id=project_id, project_name=name)
        with self._lock:
            self._stores[name] = made
        return made

    def close(self) -> None:
        self.db.close()


def project_at(location: Project | str | os.PathLike[str]) -> Project:
    """A project from a ``Project``, its root folder, or its ``.cairn`` folder (made if new)."""
    if isinstance(location, Project):
        project = location
    else:
        path = Path(location).expanduser().resolve()
        if path.name == STORE_DIRNAME or (path / "cairn.db").exists():
            project = Project(root=path.parent, store_dir=path)
        else:
            project = Project(root=path, store_dir=path / STORE_DIRNAME)
    project.objects_dir.mkdir(parents=True, exist_ok=True)
    project.runs_dir.mkdir(parents=True, exist_ok=True)
    return project


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "local"
