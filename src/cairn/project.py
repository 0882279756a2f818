"""Finding the project: the ``.cairn/`` folder, looked up like git looks up ``.git``.

``CAIRN_DIR`` names the ``.cairn`` folder directly. Otherwise cairn walks up from the working
folder; when nothing is found, the project goes where ``cairn init`` would put it: the git
root when inside a repository, else the working folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cairn.errors import PermissionDenied
from cairn.settings import env_db_url, env_store_dir

STORE_DIRNAME = ".cairn"
#: The store holds code, data and params that may be private: only its owner may read it
#: (like ``~/.ssh``), whatever the umask. SQLite gives its -wal and -shm files the db's mode.
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


@dataclass(frozen=True)
class Project:
    """A project: ``root`` holds the code, ``store_dir`` the metadata and objects."""

    root: Path
    store_dir: Path

    @property
    def db_url(self) -> str:
        return env_db_url() or f"sqlite:///{self.store_dir / 'cairn.db'}"

    @property
    def objects_dir(self) -> Path:
        return self.store_dir / "objects"

    @property
    def runs_dir(self) -> Path:
        return self.store_dir / "runs"

    @property
    def config_path(self) -> Path:
        return self.store_dir / "config.toml"


def git_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding ``.git`` (no subprocess: it is hot)."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def find_project(start: Path | None = None) -> Project | None:
    start = (start or Path.cwd()).resolve()
    override = env_store_dir()
    if override:
        store = Path(override).expanduser().resolve()
        root = store.parent if store.name == STORE_DIRNAME else (git_root(start) or start)
        return Project(root=root, store_dir=store) if store.is_dir() else None
    for folder in (start, *start.parents):
        if (folder / STORE_DIRNAME).is_dir():
            return Project(root=folder, store_dir=folder / STORE_DIRNAME)
    return None


def default_location(start: Path | None = None) -> Project:
    """Where ``cairn init`` puts a new project."""
    start = (start or Path.cwd()).resolve()
    override = env_store_dir()
    if override:
        store = Path(override).expanduser().resolve()
        root = store.parent if store.name == STORE_DIRNAME else (git_root(start) or start)
        return Project(root=root, store_dir=store)
    root = git_root(start) or start
    return Project(root=root, store_dir=root / STORE_DIRNAME)


def init_project(start: Path | None = None) -> tuple[Project, bool]:
    """Create the project's folders if needed; return it and whether it was created."""
    existing = find_project(start)
    if existing is not None:
        return existing, False
    project = default_location(start)
    try:
        fresh = not project.store_dir.exists()
        project.store_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if fresh:
            os.chmod(project.store_dir, PRIVATE_DIR)  # whatever the umask allowed
        (project.store_dir / "objects").mkdir(exist_ok=True)
        (project.store_dir / "runs").mkdir(exist_ok=True)
        if not env_db_url():
            _create_private(project.store_dir / "cairn.db")
        ignore = project.store_dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# cairn's store: runs are shared with `cairn push`, not git\n*\n")
    except OSError as exc:
        raise PermissionDenied(
            f"cannot create a cairn project in {project.store_dir.parent}: {exc.strerror}",
            hint="run cairn from a folder you can write to, or set CAIRN_DIR",
        ) from exc
    return project, True


def _create_private(path: Path) -> None:
    """Create an empty file readable by its owner only, unless it exists (SQLite takes an
    empty file as a new database and keeps its mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                     PRIVATE_FILE)
    except FileExistsError:
        return
    os.close(fd)


def require_project(start: Path | None = None, *, announce: bool = True) -> Project:
    """The current project, created where ``cairn init`` would when there is none."""
    project, created = init_project(start)
    if created and announce:
        print(f"cairn: created a new project in {project.store_dir}", file=sys.stderr)
    return project
