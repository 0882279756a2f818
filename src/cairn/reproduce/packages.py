"""A recorded package list as installable requirements, one rule for every consumer.

``cairn repro`` installs them, ``cairn env export`` writes them out. A package that came from
an index is pinned exactly (``name==version``). One installed from a VCS is pinned to its
commit; one installed from a local folder or file is written as it was installed
(``name @ file:///…``, ``-e /path``) with a warning, since no version pins it, and it can only
be rebuilt where that path exists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

#: Never pinned from a record: the rebuilt environment gets the running cairn instead.
SELF = "cairn"


@dataclass(frozen=True)
class Requirement:
    """One package of a recorded environment, in the forms its consumers need."""

    name: str
    version: str
    line: str  # for requirements.txt and ``uv pip install``
    args: tuple[str, ...]  # the same for a command line (``-e`` takes two words)
    source: str  # "index", "vcs", "local", "archive"
    local_path: str | None = None  # a folder or file on the recording machine
    editable: bool = False
    url: str | None = None  # where a VCS or archive package came from
    rev: str | None = None  # the VCS commit (or the revision asked for, without one)
    warning: str | None = None  # why it cannot be pinned, for the user

    @property
    def rebuildable_here(self) -> bool:
        """False for a local install whose path does not exist on this machine."""
        return self.local_path is None or os.path.exists(self.local_path)

    @property
    def uv_source(self) -> dict[str, Any] | None:
        """The ``[tool.uv.sources]`` entry for a package that does not come from an index."""
        if self.source == "vcs" and self.url:
            return {"git": self.url, "rev": self.rev} if self.rev else {"git": self.url}
        if self.local_path is not None:
            entry: dict[str, Any] = {"path": self.local_path}
            if self.editable:
                entry["editable"] = True
            return entry
        if self.source == "archive" and self.url:
            return {"url": self.url}
        return None


def _file_path(url: str) -> str | None:
    parsed = urlparse(url)
    return unquote(parsed.path) if parsed.scheme == "file" else None


def requirement(name: str, version: str, direct_url: Mapping[str, Any] | None) -> Requirement:
    """The requirement for one recorded package (``direct_url`` as PEP 610 records it)."""
    if not direct_url or not isinstance(direct_url.get("url"), str):
        line = f"{name}=={version}"
        return Requirement(name, version, line, (line,), "index")
    url = str(direct_url["url"])
    vcs = direct_url.get("vcs_info")
    if isinstance(vcs, Mapping):
        kind = str(vcs.get("vcs", "git"))
        commit = vcs.get("commit_id") or vcs.get("requested_revision")
        line = f"{name} @ {kind}+{url}" + (f"@{commit}" if commit else "")
        warning = None if vcs.get("commit_id") else f"{name} comes from {url} with no commit"
        return Requirement(
            name, version, line, (line,), "vcs", warning=warning, url=url,
            rev=str(commit) if commit else None,
        )
    path = _file_path(url)
    dir_info = direct_url.get("dir_info")
    editable = isinstance(dir_info, Mapping) and bool(dir_info.get("editable"))
    if path is not None:
        line = f"-e {path}" if editable else f"{name} @ {url}"
        args = ("-e", path) if editable else (line,)
        warning = (
            f"{name} {version} was installed from the local "
            f"{'folder' if isinstance(dir_info, Mapping) else 'file'} {path}; "
            "it is written as installed and cannot be pinned"
        )
        return Requirement(name, version, line, args, "local", local_path=path,
                           editable=editable, warning=warning)
    archive = direct_url.get("archive_info")
    fragment = ""
    if isinstance(archive, Mapping):
        digest = archive.get("hash") or ""
        if isinstance(digest, str) and "=" in digest:
            fragment = "#" + digest
    line = f"{name} @ {url}{fragment}"
    return Requirement(name, version, line, (line,), "archive", url=url)


def requirements(
    packages: Mapping[str, str],
    direct_urls: Mapping[str, Mapping[str, Any]],
    *,
    skip: frozenset[str] = frozenset(),
) -> list[Requirement]:
    """Every recorded package as a requirement, sorted by name, leaving out ``skip``."""
    return [
        requirement(name, version, direct_urls.get(name))
        for name, version in sorted(packages.items())
        if name not in skip
    ]
