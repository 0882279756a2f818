"""What every store-reading command does first: find the project, open the store."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cairn.project import Project
    from cairn.store.core import MetaStore


def open_project(*, reap: bool = True) -> tuple[Project, MetaStore]:
    """The current project (created and announced when missing) and its store.

    ``reap`` marks runs whose process died as ``crashed`` first, so no run reads ``running``
    forever.
    """
    from cairn.project import require_project
    from cairn.store.core import open_store
    from cairn.store.runs import reap_crashed

    project = require_project()
    store = open_store(project)
    if reap:
        reap_crashed(store)
    return project, store
