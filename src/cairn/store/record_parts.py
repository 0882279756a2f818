"""The parts of a run's typed record, which are also what the capture gatherers return.

Each record is a frozen dataclass with ``to_json()`` (a plain dict for the run record) and
``from_json(d)``. Records outlive the cairn that wrote them, so reading is lenient both ways
(``JsonRecord``): ``from_json`` tolerates missing keys, so that records written by an older
cairn still load, and keeps keys it does not know, so that a record written by a newer cairn
is written back whole when this one changes it. Large parts (the package list, diffs, file
trees) live in the object store and are referenced here by oid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any, ClassVar, Literal

CodeKind = Literal["git", "snapshot"]
_OWN_FIELDS = ("extra", "present")


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def encode(value: Any) -> Any:
    """``value`` as JSON: records by ``to_json``, tuples as lists, mappings with sorted keys."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): encode(v) for k, v in sorted(value.items())}
    return value


@dataclass(frozen=True)
class JsonRecord:
    """The base of every record stored as JSON: it writes back what it read.

    ``extra`` holds the keys this version does not read (written by a newer cairn, or a value
    of a shape it cannot read); they are written back unchanged. ``present`` is the set of
    known keys the JSON held when it was read: a key it lacked (a record from an older store,
    a partial record) is written back only once it holds something other than its default,
    so that reading and writing a record changes nothing. ``present=None`` (a record built
    here) writes every key, or with ``_sparse`` only those off their default. Fields are
    named as their JSON keys, but for ``_json_names``; a key ``from_json`` can do without has
    for its default the value it reads as. Keys are written sorted, as the store writes them.
    """

    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True, hash=False)
    present: frozenset[str] | None = field(
        default=None, kw_only=True, compare=False, hash=False, repr=False
    )

    _json_names: ClassVar[Mapping[str, str]] = {}  # field name -> JSON key, where they differ
    _sparse: ClassVar[bool] = False  # True: built here, only keys off their default are written

    @classmethod
    def _unread(cls, d: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
        """What ``from_json`` passes on: ``extra`` and ``present`` of ``d``."""
        known = _keys_of(cls)
        return ({k: v for k, v in d.items() if k not in known},
                frozenset(k for k in d if k in known))

    def _written(self, f: Field[Any], key: str, value: Any) -> bool:
        if self.present is None and not self._sparse:
            return True
        if self.present is not None and key in self.present:
            return True
        if f.default is not MISSING:
            return bool(value != f.default)
        if f.default_factory is not MISSING:
            return bool(value != f.default_factory())
        return True  # a required field is always written

    def to_json(self) -> dict[str, Any]:
        out = dict(self.extra)
        for f, key in _fields_of(type(self)):
            value = getattr(self, f.name)
            if self._written(f, key, value):
                out[key] = encode(value)
        return dict(sorted(out.items()))


_FIELDS: dict[type[JsonRecord], tuple[tuple[Field[Any], str], ...]] = {}
_KEYS: dict[type[JsonRecord], frozenset[str]] = {}


def _fields_of(cls: type[JsonRecord]) -> tuple[tuple[Field[Any], str], ...]:
    """A record type's own fields, each with its JSON key (looked up once per type)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = tuple((f, cls._json_names.get(f.name, f.name))
                                     for f in fields(cls) if f.name not in _OWN_FIELDS)
    return found


def _keys_of(cls: type[JsonRecord]) -> frozenset[str]:
    found = _KEYS.get(cls)
    if found is None:
        found = _KEYS[cls] = frozenset(key for _, key in _fields_of(cls))
    return found


@dataclass(frozen=True)
class StoredTree(JsonRecord):
    """A directory manifest in the object store: its oid, total bytes and file count."""

    oid: str
    size: int = 0
    count: int = 0

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> StoredTree:
        extra, present = cls._unread(d)
        return cls(oid=str(d["oid"]), size=int(d.get("size", 0)), count=int(d.get("count", 0)),
                   extra=extra, present=present)

    @classmethod
    def maybe(cls, d: Mapping[str, Any] | None) -> StoredTree | None:
        return None if d is None else cls.from_json(d)


@dataclass(frozen=True)
class SkippedFile(JsonRecord):
    """A file left out of a snapshot because it is larger than the size limit."""

    path: str
    size: int

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SkippedFile:
        extra, present = cls._unread(d)
        return cls(path=str(d["path"]), size=int(d["size"]), extra=extra, present=present)


@dataclass(frozen=True)
class CodeState(JsonRecord):
    """The code a run used.

    ``kind == "git"``: ``commit`` (None before the first commit), ``branch`` (None when
    detached), ``remote`` (credentials stripped), ``dirty`` (tracked files differ from HEAD),
    ``diff_oid`` (``git diff HEAD --binary`` bytes; None when clean) and ``untracked`` (a tree
    of untracked, non-ignored files). ``kind == "snapshot"``: ``snapshot`` is a tree of the
    source files under ``root``. ``skipped`` lists files over the size limit that were not
    stored; ``warnings`` are sentences for the user.
    """

    kind: CodeKind = "snapshot"
    root: str = ""
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

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CodeState:
        kind: CodeKind = "git" if d.get("kind") == "git" else "snapshot"
        extra, present = cls._unread(d)
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
            extra=extra,
            present=present,
        )


@dataclass(frozen=True)
class LockFile(JsonRecord):
    """A dependency lock or manifest file from the project root, stored as an object."""

    path: str
    oid: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LockFile:
        extra, present = cls._unread(d)
        return cls(path=str(d["path"]), oid=str(d["oid"]), extra=extra, present=present)


@dataclass(frozen=True)
class Environment(JsonRecord):
    """The interpreter that ran the command and what was installed in it.

    ``packages`` maps normalised distribution names (PEP 503) to versions; ``direct_urls``
    holds the ``direct_url.json`` of each distribution installed from a local path, an archive
    URL or a VCS, so that a rebuild knows which ones cannot come from an index.
    ``packages_oid`` is set once the package list has been stored as an object
    (``packages_bytes()``), which lets identical environments share one object. A command
    cairn found no interpreter for records only the project's ``lock_files``
    (``lock_files_only``).
    """

    python_version: str = ""
    implementation: str = ""
    executable: str = ""
    prefix: str = ""
    base_prefix: str = ""
    platform: str = ""
    packages: Mapping[str, str] = field(default_factory=dict)
    direct_urls: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    lock_files: tuple[LockFile, ...] = ()
    packages_oid: str | None = None

    @classmethod
    def lock_files_only(cls, locks: tuple[LockFile, ...]) -> Environment:
        """No interpreter known: the record holds the lock files (``{}`` when there are none)."""
        return cls(lock_files=locks, present=frozenset())

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
        d = super().to_json()
        if not inline_packages and self.packages_oid is not None:
            d.pop("packages", None)
            d.pop("direct_urls", None)
        return d

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Environment:
        extra, present = cls._unread(d)
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
            extra=extra,
            present=present,
        )


@dataclass(frozen=True)
class Gpu(JsonRecord):
    """One GPU as ``nvidia-smi`` reports it."""

    name: str = ""
    memory_mb: int | None = None
    driver: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Gpu:
        extra, present = cls._unread(d)
        return cls(name=str(d.get("name", "")), memory_mb=_opt_int(d.get("memory_mb")),
                   driver=_opt_str(d.get("driver")), extra=extra, present=present)


@dataclass(frozen=True)
class Host(JsonRecord):
    """The machine a run ran on. Fields that cannot be found are empty, never an error."""

    hostname: str = ""
    user: str = ""
    os: str = ""
    os_release: str = ""
    kernel: str = ""
    platform: str = ""
    distro: str = ""
    machine: str = ""
    cpu_model: str = ""
    cpu_count: int = 0
    ram_bytes: int | None = None
    gpus: tuple[Gpu, ...] = ()
    cuda_version: str | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Host:
        extra, present = cls._unread(d)
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
            ram_bytes=_opt_int(d.get("ram_bytes")),
            gpus=tuple(Gpu.from_json(g) for g in d.get("gpus", ())),
            cuda_version=_opt_str(d.get("cuda_version")),
            extra=extra,
            present=present,
        )


@dataclass(frozen=True)
class Redaction(JsonRecord):
    """Argument ``index`` of the command was redacted; its value follows ``prefix``."""

    arg: str  # what a reader is told: the flag ("--api-key") or "argument N"
    index: int
    prefix: str  # "--api-key=" when flag and value share one word, else ""
    env: str  # the variable that supplies the value again

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Redaction:
        extra, present = cls._unread(doc)
        return cls(str(doc["arg"]), int(doc["index"]), str(doc.get("prefix", "")),
                   str(doc["env"]), extra=extra, present=present)
