"""Typed records returned by the capture gatherers.

Each record is a frozen dataclass with ``to_json()`` (a plain dict for the run record) and
``from_json(d)``; ``from_json`` tolerates missing keys so that records written by an older
cairn still load. Large parts (the package list, diffs, file trees) live in the object store
and are referenced here by oid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

CodeKind = Literal["git", "snapshot"]


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class StoredTree:
    """A directory manifest in the object store: its oid, total bytes and file count."""

    oid: str
    size: int
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"oid": self.oid, "size": self.size, "count": self.count}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StoredTree:
        return cls(oid=str(d["oid"]), size=int(d.get("size", 0)), count=int(d.get("count", 0)))

    @classmethod
    def maybe(cls, d: Mapping[str, Any] | None) -> StoredTree | None:
        return None if d is None else cls.from_json(d)


@dataclass(frozen=True)
class SkippedFile:
    """A file left out of a snapshot because it is larger than the size limit."""

    path: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SkippedFile:
        return cls(path=str(d["path"]), size=int(d["size"]))


@dataclass(frozen=True)
class CodeState:
    """The code a run used.

    ``kind == "git"``: ``commit`` (None before the first commit), ``branch`` (None when
    detached), ``remote`` (credentials stripped), ``dirty`` (tracked files differ from HEAD),
    ``diff_oid`` (``git diff HEAD --binary`` bytes; None when clean) and ``untracked`` (a tree
    of untracked, non-ignored files). ``kind == "snapshot"``: ``snapshot`` is a tree of the
    source files under ``root``. ``skipped`` lists files over the size limit that were not
    stored; ``warnings`` are sentences for the user.
    """

    kind: CodeKind
    root: str
    commit: str | None = None
    branch: str | None = None
    remote: str | None = None
    dirty: bool = False
    diff_oid: str | None = None
    diff_size: int = 0
    untracked: StoredTree | None = None
    snapshot: StoredTree | None = None
    skipped: tuple[SkippedFile, ...] = ()
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "root": self.root,
            "commit": self.commit,
            "branch": self.branch,
            "remote": self.remote,
            "dirty": self.dirty,
            "diff_oid": self.diff_oid,
            "diff_size": self.diff_size,
            "untracked": self.untracked.to_json() if self.untracked else None,
            "snapshot": self.snapshot.to_json() if self.snapshot else None,
            "skipped": [s.to_json() for s in self.skipped],
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CodeState:
        kind: CodeKind = "git" if d.get("kind") == "git" else "snapshot"
        return cls(
            kind=kind,
            root=str(d.get("root", "")),
            commit=_opt_str(d.get("commit")),
            branch=_opt_str(d.get("branch")),
            remote=_opt_str(d.get("remote")),
            dirty=bool(d.get("dirty", False)),
            diff_oid=_opt_str(d.get("diff_oid")),
            diff_size=int(d.get("diff_size", 0)),
            untracked=StoredTree.maybe(d.get("untracked")),
            snapshot=StoredTree.maybe(d.get("snapshot")),
            skipped=tuple(SkippedFile.from_json(s) for s in d.get("skipped", ())),
            warnings=tuple(str(w) for w in d.get("warnings", ())),
        )


@dataclass(frozen=True)
class LockFile:
    """A dependency lock or manifest file from the project root, stored as an object."""

    path: str
    oid: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "oid": self.oid}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LockFile:
        return cls(path=str(d["path"]), oid=str(d["oid"]))


@dataclass(frozen=True)
class Environment:
    """The interpreter that ran the command and what was installed in it.

    ``packages`` maps normalised distribution names (PEP 503) to versions; ``direct_urls``
    holds the ``direct_url.json`` of each distribution installed from a local path, an archive
    URL or a VCS, so that a rebuild knows which ones cannot come from an index.
    ``packages_oid`` is set once the package list has been stored as an object
    (``packages_bytes()``), which lets identical environments share one object.
    """

    python_version: str
    implementation: str
    executable: str
    prefix: str = ""
    base_prefix: str = ""
    platform: str = ""
    packages: Mapping[str, str] = field(default_factory=dict)
    direct_urls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lock_files: tuple[LockFile, ...] = ()
    packages_oid: str | None = None

    @property
    def in_venv(self) -> bool:
        return bool(self.prefix) and self.prefix != self.base_prefix

    def packages_bytes(self) -> bytes:
        """Canonical JSON of the package list: equal environments give equal bytes."""
        doc = {"packages": dict(self.packages), "direct_urls": dict(self.direct_urls)}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    def with_packages_oid(self, oid: str) -> Environment:
        return replace(self, packages_oid=oid)

    def to_json(self, *, inline_packages: bool = True) -> dict[str, Any]:
        """A dict for the run record; ``inline_packages=False`` keeps only ``packages_oid``."""
        d: dict[str, Any] = {
            "python_version": self.python_version,
            "implementation": self.implementation,
            "executable": self.executable,
            "prefix": self.prefix,
            "base_prefix": self.base_prefix,
            "platform": self.platform,
            "lock_files": [lf.to_json() for lf in self.lock_files],
            "packages_oid": self.packages_oid,
        }
        if inline_packages or self.packages_oid is None:
            d["packages"] = dict(sorted(self.packages.items()))
            d["direct_urls"] = {k: dict(v) for k, v in sorted(self.direct_urls.items())}
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Environment:
        return cls(
            python_version=str(d.get("python_version", "")),
            implementation=str(d.get("implementation", "")),
            executable=str(d.get("executable", "")),
            prefix=str(d.get("prefix", "")),
            base_prefix=str(d.get("base_prefix", "")),
            platform=str(d.get("platform", "")),
            packages={str(k): str(v) for k, v in (d.get("packages") or {}).items()},
            direct_urls={str(k): dict(v) for k, v in (d.get("direct_urls") or {}).items()},
            lock_files=tuple(LockFile.from_json(x) for x in d.get("lock_files", ())),
            packages_oid=_opt_str(d.get("packages_oid")),
        )


@dataclass(frozen=True)
class Gpu:
    """One GPU as ``nvidia-smi`` reports it."""

    name: str
    memory_mb: int | None = None
    driver: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "memory_mb": self.memory_mb, "driver": self.driver}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Gpu:
        mem = d.get("memory_mb")
        return cls(
            name=str(d.get("name", "")),
            memory_mb=None if mem is None else int(mem),
            driver=_opt_str(d.get("driver")),
        )


@dataclass(frozen=True)
class Host:
    """The machine a run ran on. Fields that cannot be found are empty, never an error."""

    hostname: str
    user: str
    os: str
    os_release: str
    kernel: str
    platform: str
    distro: str
    machine: str
    cpu_model: str
    cpu_count: int
    ram_bytes: int | None
    gpus: tuple[Gpu, ...] = ()
    cuda_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "user": self.user,
            "os": self.os,
            "os_release": self.os_release,
            "kernel": self.kernel,
            "platform": self.platform,
            "distro": self.distro,
            "machine": self.machine,
            "cpu_model": self.cpu_model,
            "cpu_count": self.cpu_count,
            "ram_bytes": self.ram_bytes,
            "gpus": [g.to_json() for g in self.gpus],
            "cuda_version": self.cuda_version,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Host:
        ram = d.get("ram_bytes")
        return cls(
            hostname=str(d.get("hostname", "")),
            user=str(d.get("user", "")),
            os=str(d.get("os", "")),
            os_release=str(d.get("os_release", "")),
            kernel=str(d.get("kernel", "")),
            platform=str(d.get("platform", "")),
            distro=str(d.get("distro", "")),
            machine=str(d.get("machine", "")),
            cpu_model=str(d.get("cpu_model", "")),
            cpu_count=int(d.get("cpu_count", 0)),
            ram_bytes=None if ram is None else int(ram),
            gpus=tuple(Gpu.from_json(g) for g in d.get("gpus", ())),
            cuda_version=_opt_str(d.get("cuda_version")),
        )
