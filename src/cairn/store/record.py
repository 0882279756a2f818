"""A run's ``record``: everything cairn noted about a run beyond its columns, typed.

The record is the ``record`` JSON column of the ``runs`` table, and travels whole in run
bundles. Its sections, all optional (a run made through the SDK or the API records only
``source``):

===============  =====================  ==========================================================
key              type                   meaning (written by)
===============  =====================  ==========================================================
source           str                    how the run was made: ``run``, ``snapshot``, ``sdk``,
                                        ``api`` or ``export``
argv             [str]                  the command as started, secrets redacted (run, SDK)
code             ``CodeState``          the code the run used (run, snapshot; fork, repro: the
                                        code they restored)
warnings         [str]                  sentences for the user about what was not recorded
host             ``Host``               the machine it ran on
env_vars         {name: value}          the environment variables recorded, secrets as ``***``,
                                        with the ``PYTHONHASHSEED`` the child was given
env              ``Environment``        the interpreter and its packages (only ``lock_files``
                                        when the command is not Python)
redacted         [``Redaction``]        secret arguments left out of ``argv``, and where
params_file      str                    the ``--params-file``, relative to the project root
metrics_file     str                    the ``--metrics-file``, relative to the project root
not_stored       [``NotStored``]        outputs a full disk refused
fork             ``ForkNote``           what ``cairn fork`` changed
reproduction     object                 the report of ``cairn repro`` (``reproduce/report.py``)
models           {path: object}         models logged to the run: their tree ``oid`` and what
                                        their ``cairn-model.json`` says (``models/artifact.py``)
origin           ``Origin``             the remote this copy was pulled from; local to the copy
exported_from    ``ExportedFrom``       the run a ``cairn model export`` copied
===============  =====================  ==========================================================

Reading never fails: keys this version does not know, and known keys whose value it cannot
read, are kept as written (``JsonRecord.extra``) and the section reads as absent; so a
record from a newer or an older cairn is written back whole when this one changes it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, TypeVar

from cairn.store.record_parts import CodeState, Environment, Host, JsonRecord, Redaction

T = TypeVar("T")
_UNREADABLE = (TypeError, ValueError, KeyError, AttributeError)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__}")
    return value


def _map(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, not {type(value).__name__}")
    return value


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, not {type(value).__name__}")
    return value


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(_str(v) for v in _list(value))


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): _str(v) for k, v in _map(value).items()}


@dataclass(frozen=True)
class NotStored(JsonRecord):
    """An output (or the log) that could not be stored, and why."""

    path: str
    reason: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> NotStored:
        extra, present = cls._unread(d)
        return cls(path=str(d["path"]), reason=str(d["reason"]), extra=extra, present=present)


@dataclass(frozen=True)
class Origin(JsonRecord):
    """Where a pulled copy came from: the remote's name, its URL and the run's number there."""

    remote: str
    url: str | None = None
    number: int | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Origin:
        extra, present = cls._unread(d)
        number = d.get("number")
        return cls(remote=str(d["remote"]), url=None if d.get("url") is None
                   else str(d["url"]), number=None if number is None else int(number),
                   extra=extra, present=present)


@dataclass(frozen=True)
class ExportedFrom(JsonRecord):
    """The run (id, number, project) a ``cairn model export`` copied into a new store."""

    run_id: str
    run_number: int
    project: str

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ExportedFrom:
        extra, present = cls._unread(d)
        return cls(run_id=str(d["run_id"]), run_number=int(d["run_number"]),
                   project=str(d["project"]), extra=extra, present=present)


@dataclass(frozen=True)
class ForkNote(JsonRecord):
    """What ``cairn fork`` changed: run ``from_run`` (JSON ``from``) with these overrides.

    ``set``: param -> new value; ``inputs``: swapped input -> its new source; ``added``: new
    input -> its source; ``env_inputs``: variable -> the added input it names (a rebuild sets
    it to where that input is restored); ``command``: the command given instead of the
    recorded one; ``dir``: the checkout it ran in.
    """

    from_run: str
    from_number: int
    set: Mapping[str, str] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    added: Mapping[str, str] = field(default_factory=dict)
    env_inputs: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] | None = None
    dir: str | None = None

    _json_names: ClassVar[Mapping[str, str]] = {"from_run": "from"}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ForkNote:
        extra, present = cls._unread(d)
        command = d.get("command")
        return cls(
            from_run=str(d["from"]), from_number=int(d["from_number"]),
            set={str(k): str(v) for k, v in (d.get("set") or {}).items()},
            inputs={str(k): str(v) for k, v in (d.get("inputs") or {}).items()},
            added={str(k): str(v) for k, v in (d.get("added") or {}).items()},
            env_inputs={str(k): str(v) for k, v in (d.get("env_inputs") or {}).items()},
            command=None if command is None else tuple(str(a) for a in command),
            dir=None if d.get("dir") is None else str(d["dir"]),
            extra=extra, present=present,
        )


@dataclass(frozen=True)
class RunRecord(JsonRecord):
    """A run's record; the module docstring lists its keys. Built here, it writes only the
    sections that hold something."""

    source: str | None = None
    argv: tuple[str, ...] = ()
    code: CodeState | None = None
    warnings: tuple[str, ...] = ()
    host: Host | None = None
    env_vars: Mapping[str, str] = field(default_factory=dict)
    env: Environment | None = None
    redacted: tuple[Redaction, ...] = ()
    params_file: str | None = None
    metrics_file: str | None = None
    not_stored: tuple[NotStored, ...] = ()
    fork: ForkNote | None = None
    reproduction: Mapping[str, Any] | None = None
    models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    origin: Origin | None = None
    exported_from: ExportedFrom | None = None

    _sparse: ClassVar[bool] = True

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RunRecord:
        extra, _ = cls._unread(d)

        def read(key: str, parse: Callable[[Any], T], default: T) -> T:
            if key not in d:
                return default
            value = d[key]
            if value is None and default is None:
                return default
            try:
                return parse(value)
            except _UNREADABLE:
                extra[key] = value  # kept as written; this version reads it as absent
                return default

        return cls(  # arguments are evaluated in order: ``present`` after every read
            source=read("source", _str, None),
            argv=read("argv", _strs, ()),
            code=read("code", lambda v: CodeState.from_json(_map(v)), None),
            warnings=read("warnings", _strs, ()),
            host=read("host", lambda v: Host.from_json(_map(v)), None),
            env_vars=read("env_vars", _str_map, {}),
            env=read("env", lambda v: Environment.from_json(_map(v)), None),
            redacted=read("redacted", lambda v: tuple(
                Redaction.from_json(_map(x)) for x in _list(v)), ()),
            params_file=read("params_file", _str, None),
            metrics_file=read("metrics_file", _str, None),
            not_stored=read("not_stored", lambda v: tuple(
                NotStored.from_json(_map(x)) for x in _list(v)), ()),
            fork=read("fork", lambda v: ForkNote.from_json(_map(v)), None),
            reproduction=read("reproduction", lambda v: dict(_map(v)), None),
            models=read("models", lambda v: {
                str(k): dict(_map(m)) for k, m in _map(v).items()}, {}),
            origin=read("origin", lambda v: Origin.from_json(_map(v)), None),
            exported_from=read("exported_from",
                               lambda v: ExportedFrom.from_json(_map(v)), None),
            extra=extra,
            present=frozenset(k for k in d if k not in extra),
        )

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        if self.env is not None:  # a stored package list is kept by its oid alone
            d["env"] = self.env.to_json(inline_packages=False)
        return d

    @classmethod
    def from_text(cls, text: str | None) -> RunRecord:
        """The record in the store's column (NULL and anything but an object read as empty)."""
        doc = json.loads(text) if text else {}
        return cls.from_json(doc) if isinstance(doc, Mapping) else cls()

    def to_text(self) -> str:
        """The record as the store's column holds it."""
        return json.dumps(self.to_json(), sort_keys=True, default=str)

    def with_origin(self, origin: Origin | None) -> RunRecord:
        """This record with ``origin`` as its only origin (None: none at all)."""
        present = None if self.present is None else self.present - {"origin"}
        extra = {k: v for k, v in self.extra.items() if k != "origin"}
        return replace(self, origin=origin, extra=extra, present=present)
