"""A run as one JSON bundle plus the objects it refers to: what push and pull move.

The bundle holds the run's own columns, its record, params (as their stored JSON text, so
they round-trip exactly), tags, lineage and artifact list. Its metric history is packed into
one object (little-endian arrays per series, keys sorted), so the same history always gives
the same oid and a repeat push sends nothing. Objects referred to are those of the
artifacts, the metrics, and every ``oid``/``*_oid`` in the record (diffs, package lists, lock
files, source snapshots), plus every file listed by those that are trees.

Importing writes the whole run in one transaction: a reader never sees half a run. The run
keeps its id; its number is the next free one in the target project.

A finished run is immutable everywhere: a bundle for a run that is already finished here is
accepted only when it holds the same content (then nothing is written), and refused with a
sentence naming what differs otherwise. "The same content" is the canonical bundle minus what
is legitimately local to a copy (``LOCAL_FIELDS``: the run number, the account that created
it here, the heartbeat, where it was pulled from). Only a run still ``running`` is updated by
later copies, the way a live run's repeated pushes update it.
"""

from __future__ import annotations

import json
import re
import sys
from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cairn.errors import Conflict, Corrupt, InvalidInput, PermissionDenied
from cairn.objects.base import ObjectStore
from cairn.objects.hashing import hash_bytes
from cairn.objects.oid import is_oid
from cairn.objects.tree import TREE_MAGIC, read_tree
from cairn.store import runs as run_store
from cairn.store.artifacts import KINDS, ArtifactRow, add_artifacts, list_artifacts
from cairn.store.core import MetaStore
from cairn.store.db import Writer
from cairn.store.metrics import metric_keys, read_series, write_series
from cairn.store.record import Origin, RunRecord
from cairn.store.series import Series

BUNDLE_KEY = "cairn-bundle"
BUNDLE_VERSION = 1
METRICS_MAGIC = b"cairn-metrics\x01\n"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_SWAP = sys.byteorder != "little"
_RUN_FIELDS = ("id", "number", "name", "status", "message", "command", "cwd", "started_at",
               "ended_at", "exit_code", "hostname", "heartbeat_at", "created_by", "verdict")
# Columns that differ between faithful copies of one run: not part of its content.
LOCAL_FIELDS = ("number", "created_by", "heartbeat_at")
# How each kind of file is named when copies differ in it.
_KIND_NAMES = {"artifact": "artifacts", "input": "inputs", "output": "outputs",
               "model": "models", "log": "log", "code": "code"}


@dataclass(frozen=True)
class Bundle:
    """A run ready to move: ``doc`` is the JSON document (see ``validate_bundle``)."""

    doc: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.doc["run"]["id"])

    @property
    def number(self) -> int:
        return int(self.doc["run"]["number"])


# -- metric history as one object ----------------------------------------------------------
def _le(a: array[Any]) -> bytes:
    if _SWAP:
        a = array(a.typecode, a)
        a.byteswap()
    return a.tobytes()


def pack_metrics(series: Mapping[str, Series]) -> bytes:
    """``METRICS_MAGIC``, a JSON line ``[[key, points], …]``, then steps, values, times."""
    keys = sorted(series)
    header = json.dumps([[k, len(series[k])] for k in keys], separators=(",", ":"))
    parts = [METRICS_MAGIC, header.encode(), b"\n"]
    for k in keys:
        s = series[k]
        parts += [_le(s.steps), _le(s.values), _le(s.times)]
    return b"".join(parts)


def unpack_metrics(data: bytes) -> dict[str, Series]:
    if not data.startswith(METRICS_MAGIC):
        raise Corrupt("the metrics object of the bundle is not a packed metric history")
    try:
        end = data.index(b"\n", len(METRICS_MAGIC))
        header = json.loads(data[len(METRICS_MAGIC):end])
        at = end + 1
        out: dict[str, Series] = {}
        for key, count in header:
            s = Series.empty()
            for arr in (s.steps, s.values, s.times):
                size = 8 * int(count)
                chunk = data[at:at + size]
                if len(chunk) != size:
                    raise ValueError("truncated")
                arr.frombytes(chunk)
                if _SWAP:
                    arr.byteswap()
                at += size
            out[str(key)] = s
    except (ValueError, TypeError) as exc:
        raise Corrupt(f"the packed metric history is damaged: {exc}") from exc
    return out


# -- export --------------------------------------------------------------------------------
def export_run(store: MetaStore, objects: ObjectStore | None, run: run_store.RunRow) -> Bundle:
    """The bundle of ``run``; its packed metric history is stored in ``objects``.

    With ``objects=None`` the history is only hashed: enough to compare the run with a copy
    without writing anything.
    """
    params = run_store.param_texts(store, run.id)
    tags = run_store.get_tags(store, [run.id])[run.id]
    lineage = {k: v for k, v in run_store.get_lineage(store, run.id).items() if v}
    artifacts = [
        {"kind": a.kind, "path": a.path, "oid": a.oid, "size": a.size, "is_tree": a.is_tree}
        for a in list_artifacts(store, run.id)
    ]
    keys = metric_keys(store, run.id)
    metrics_oid = None
    if keys:
        packed = pack_metrics({k: read_series(store, run.id, k) for k in keys})
        metrics_oid = hash_bytes(packed) if objects is None else objects.put_bytes(packed)
    columns = {name: getattr(run, name) for name in _RUN_FIELDS}
    doc = {
        BUNDLE_KEY: BUNDLE_VERSION,
        "run": {**columns, "record": run.record.to_json()},
        "params": params,
        "tags": tags,
        "lineage": lineage,
        "artifacts": artifacts,
        "metrics": metrics_oid,
    }
    return Bundle(doc)


def _record_oids(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _record_oids(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _record_oids(item, key)
    elif (key == "oid" or key.endswith("_oid")) and is_oid(value):
        yield value


def direct_oids(doc: Mapping[str, Any]) -> list[str]:
    """Objects the bundle names itself (trees among them list further objects)."""
    found = [a["oid"] for a in doc["artifacts"]]
    if doc.get("metrics"):
        found.append(doc["metrics"])
    found.extend(_record_oids(doc["run"].get("record") or {}))
    return list(dict.fromkeys(found))


def is_tree_object(objects: ObjectStore, oid: str) -> bool:
    with objects.open(oid) as fh:
        return fh.read(len(TREE_MAGIC)) == TREE_MAGIC


def split_referenced(doc: Mapping[str, Any], objects: ObjectStore) -> tuple[list[str], list[str]]:
    """(blobs, trees) the bundle refers to; its direct objects must be in ``objects``.

    Blobs include every file listed by the trees; a store should receive them before the
    trees, so that a stored tree always vouches for its files.
    """
    blobs: list[str] = []
    trees: list[str] = []
    for oid in direct_oids(doc):
        if is_tree_object(objects, oid):
            trees.append(oid)
            blobs.extend(e.oid for e in read_tree(objects, oid).entries)
        else:
            blobs.append(oid)
    return list(dict.fromkeys(blobs)), trees


# -- validation ----------------------------------------------------------------------------
def _bad(what: str) -> InvalidInput:
    return InvalidInput(f"the run bundle is not valid: {what}")


def _opt(value: Any, kind: type | tuple[type, ...], what: str) -> None:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise _bad(f"{what} has the wrong type")


def _check_label(kind: str, path: Any) -> None:
    if not isinstance(path, str) or not path or "\0" in path:
        raise _bad(f"an {kind} has no usable path")
    parts = path.replace("\\", "/").split("/")
    if ".." in parts:
        raise _bad(f"the {kind} path {path!r} contains '..'")
    if kind not in ("input", "output") and (path.startswith(("/", "\\")) or path[1:2] == ":"):
        raise _bad(f"the {kind} path {path!r} is absolute")


def validate_bundle(doc: Any) -> dict[str, Any]:
    """``doc`` if it is a well-formed bundle, else ``InvalidInput`` saying what is wrong."""
    if not isinstance(doc, dict) or doc.get(BUNDLE_KEY) != BUNDLE_VERSION:
        raise _bad(f"expected a JSON object with \"{BUNDLE_KEY}\": {BUNDLE_VERSION}")
    run = doc.get("run")
    if not isinstance(run, dict):
        raise _bad("it has no run")
    if not isinstance(run.get("id"), str) or not _RUN_ID.match(run["id"]):
        raise _bad("the run id is not 32 lowercase hex digits")
    if run.get("status") not in run_store.STATUSES:
        raise _bad(f"unknown status {run.get('status')!r}")
    for name in ("number", "started_at"):
        if not isinstance(run.get(name), int) or isinstance(run.get(name), bool):
            raise _bad(f"the run's {name} is not a whole number")
    for name in ("ended_at", "exit_code", "heartbeat_at"):
        _opt(run.get(name), int, f"the run's {name}")
    for name in ("name", "message", "cwd", "hostname", "created_by", "verdict"):
        _opt(run.get(name), str, f"the run's {name}")
    command = run.get("command")
    if command is not None and not (isinstance(command, list)
                                    and all(isinstance(a, str) for a in command)):
        raise _bad("the command is not a list of strings")
    if not isinstance(run.get("record", {}), dict):
        raise _bad("the record is not an object")
    params, tags = doc.get("params", {}), doc.get("tags", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise _bad("params are not a map of JSON texts")
    for key, text in params.items():
        try:
            json.loads(text)
        except ValueError:
            raise _bad(f"the param {key!r} is not JSON text") from None
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise _bad("tags are not a map of strings")
    lineage = doc.get("lineage", {})
    if not isinstance(lineage, dict) or any(
        rel not in run_store.LINEAGE_RELATIONS or not isinstance(t, str) or not _RUN_ID.match(t)
        for rel, t in lineage.items()
    ):
        raise _bad("lineage maps parent/forked_from/reproduces to run ids")
    artifacts = doc.get("artifacts", [])
    if not isinstance(artifacts, list):
        raise _bad("artifacts are not a list")
    seen: set[tuple[str, str]] = set()
    for a in artifacts:
        if not isinstance(a, dict) or a.get("kind") not in KINDS or not is_oid(a.get("oid")):
            raise _bad(f"an artifact is malformed: {a!r}"[:200])
        _check_label(a["kind"], a.get("path"))
        if not isinstance(a.get("size"), int) or a["size"] < 0:
            raise _bad(f"the artifact {a['path']!r} has no usable size")
        if (a["kind"], a["path"]) in seen:
            raise _bad(f"the {a['kind']} {a['path']!r} is listed twice")
        seen.add((a["kind"], a["path"]))
    if doc.get("metrics") is not None and not is_oid(doc["metrics"]):
        raise _bad("the metrics object id is malformed")
    doc.setdefault("params", {})
    doc.setdefault("tags", {})
    doc.setdefault("lineage", {})
    doc.setdefault("artifacts", [])
    return doc


# -- comparing copies ----------------------------------------------------------------------
def _canon(value: Any) -> str:
    """A value as canonical JSON text, so that NaN equals NaN and key order does not count."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _content_record(run: Mapping[str, Any]) -> dict[str, Any]:
    record = RunRecord.from_json(run.get("record") or {})
    return record.with_origin(None).to_json()  # where a copy was pulled from: local to it


def _files_by_kind(doc: Mapping[str, Any]) -> dict[str, list[tuple[str, str, int, bool]]]:
    out: dict[str, list[tuple[str, str, int, bool]]] = {}
    for a in doc.get("artifacts") or []:
        out.setdefault(a["kind"], []).append(
            (a["path"], a["oid"], int(a["size"]), bool(a.get("is_tree"))))
    return {kind: sorted(rows) for kind, rows in out.items()}


def differences(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> list[str]:
    """What two validated bundles of one run disagree on, named for a sentence.

    Empty when they hold the same content; ``LOCAL_FIELDS`` and the record's ``origin`` are
    not compared, since faithful copies of one run differ in them.
    """
    found = [name for name in _RUN_FIELDS if name not in LOCAL_FIELDS
             and _canon(ours["run"].get(name)) != _canon(theirs["run"].get(name))]
    if _canon(_content_record(ours["run"])) != _canon(_content_record(theirs["run"])):
        found.append("record")
    found += [part for part in ("params", "tags", "lineage")
              if _canon(ours.get(part) or {}) != _canon(theirs.get(part) or {})]
    if (ours.get("metrics") or None) != (theirs.get("metrics") or None):
        found.append("metrics")
    ours_files, theirs_files = _files_by_kind(ours), _files_by_kind(theirs)
    found += [_KIND_NAMES[kind] for kind in KINDS
              if ours_files.get(kind, []) != theirs_files.get(kind, [])]
    return found


def listing(names: list[str]) -> str:
    """``a, b and c``: names in a sentence."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


# -- import --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Imported:
    run: run_store.RunRow
    created: bool
    changed: bool = True  # False: the same content was here already and nothing was written


def existing_copy(store: MetaStore, doc: Mapping[str, Any], *, author: str | None = None,
                  lock: bool = False) -> Imported | None:
    """What to do with a validated bundle whose run may already be in ``store``.

    ``None``: the run is not here, or it is still running and this copy may update it; write
    it. An ``Imported`` with ``changed=False``: the same content is here; write nothing.
    Refused with one sentence when the run belongs to another project, is finished and the
    copy differs (``Conflict``), or is running and the copy comes from someone other than its
    creator: ``author`` (a server's caller) must be the account that created it, and without
    an author (a pull) only a run that itself came from a remote is updated.
    ``lock`` takes the run's row for the current transaction on PostgreSQL (SQLite's write
    transaction already excludes other writers).
    """
    project = run_store.project_of_run(store, doc["run"]["id"], lock=lock)
    if project is None:
        return None
    if project != store.project_id:
        raise Conflict(f"run {doc['run']['id']} already belongs to another project here")
    stored = run_store.get_run(store, doc["run"]["id"])
    differ = differences(export_run(store, None, stored).doc, doc)
    if not differ:
        return Imported(stored, created=False, changed=False)
    what = f"run {stored.number} of project {store.project_name!r}"
    if stored.status in run_store.FINAL_STATUSES:
        raise Conflict(f"{what} is already {stored.status}, and a finished run never changes: "
                       f"the copy sent differs in {listing(differ)}")
    if author is not None and stored.created_by != author:
        raise PermissionDenied(f"{what} is still running and was created by "
                               f"{stored.created_by or 'another account'}; only its creator's "
                               "pushes update it")
    if author is None and stored.record.origin is None:
        raise Conflict(f"{what} was recorded here and is still running; only its own process "
                       "updates it")
    return None


def import_bundle(
    w: Writer, store: MetaStore, objects: ObjectStore, doc: dict[str, Any],
    *, origin: Origin | None = None, author: str | None = None,
) -> Imported:
    """Write the bundle's run into ``store`` in the caller's transaction ``w`` (all its
    objects must already be in ``objects``).

    A run already here is left alone when the bundle holds the same content, refused when it
    is finished and the bundle differs, and updated only while it runs (see
    ``existing_copy``). ``author``, when given (a server's caller), is recorded as the run's
    creator whatever the bundle claims. ``origin`` (where the run came from) is recorded the
    first time only. The decision and the write share the transaction.
    """
    validate_bundle(doc)
    run = doc["run"]
    series = unpack_metrics(objects.get_bytes(doc["metrics"])) if doc.get("metrics") else {}
    kept = existing_copy(store, doc, author=author, lock=True)
    if kept is not None:
        return kept
    created = _write_run(w, store, run, origin, author)
    _write_contents(w, run["id"], doc, series)
    return Imported(run_store.get_run(store, run["id"]), created)


def _write_run(w: Writer, store: MetaStore, run: Mapping[str, Any],
               origin: Origin | None, author: str | None) -> bool:
    old = run_store.run_record(w, run["id"])
    record = RunRecord.from_json(run.get("record") or {})
    if old is not None:  # a running run, updated by a later copy (see existing_copy)
        # a run first recorded here has no origin, whatever copies of it say
        record = record.with_origin(old.origin)
    elif origin is not None:
        record = record.with_origin(origin)
    new = run_store.NewRun(
        id=run["id"], status=run["status"], started_at=run["started_at"], name=run.get("name"),
        message=run.get("message"), command=run.get("command"), cwd=run.get("cwd"),
        ended_at=run.get("ended_at"), exit_code=run.get("exit_code"),
        hostname=run.get("hostname"), heartbeat_at=run.get("heartbeat_at"),
        created_by=author if author is not None else run.get("created_by"), record=record,
        verdict=run.get("verdict"),
    )  # no pid: the process that ran it is on another machine
    if old is not None:
        run_store.overwrite_run(w, new)
        return False
    run_store.insert_run(w, store.project_id, new)
    return True


def _write_contents(w: Writer, run_id: str, doc: Mapping[str, Any],
                    series: Mapping[str, Series]) -> None:
    run_store.clear_contents(w, run_id)
    run_store.write_param_texts(w, run_id, doc["params"])
    run_store.set_tags(w, run_id, doc["tags"])
    run_store.write_lineage(w, run_id, doc["lineage"])
    add_artifacts(w, [ArtifactRow(run_id, a["kind"], a["path"], a["oid"], a["size"],
                                  bool(a.get("is_tree"))) for a in doc["artifacts"]])
    if series:
        write_series(w, run_id, series)
