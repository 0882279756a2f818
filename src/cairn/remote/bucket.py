"""A bucket or folder as a remote, through fsspec: ``objects/ab/cdef…`` and ``runs/<id>.json``.

No server checks anything here, so the client keeps the order itself: objects first, the
run's JSON last (written in one piece on object stores, through a temporary name and a move
on filesystems), so a run is only listed once everything it refers to is there.
``storage_options`` (``[remote.NAME.options]`` in the config, e.g. ``endpoint_url``) go to
the filesystem; credentials come from the usual places (``AWS_*`` variables, profiles).
"""

from __future__ import annotations

import json
import posixpath
import re
import uuid
from pathlib import Path
from typing import Any

from cairn.errors import Ambiguous, InvalidInput, NotFound, StoreUnavailable
from cairn.objects.base import ObjectStore
from cairn.objects.fsspec_store import ATOMIC_PUT, FsspecObjectStore, require_backend
from cairn.objects.local import LocalObjectStore
from cairn.remote.base import store_verified

_HEX = re.compile(r"^[0-9a-f]{4,32}$")


class BucketRemote:
    def __init__(self, name: str, url: str, **storage_options: Any) -> None:
        self.name = name
        self.url = url.rstrip("/")
        scheme = require_backend(self.url)
        from fsspec.core import url_to_fs

        self.objects: ObjectStore
        if scheme == "file":
            root = Path(self.url.split("://", 1)[1])
            self.objects = LocalObjectStore(root / "objects")
        else:
            self.objects = FsspecObjectStore(f"{self.url}/objects", **storage_options)
        self.fs: Any
        self.fs, path = url_to_fs(self.url, **storage_options)
        self.runs = f"{str(path).rstrip('/')}/runs"
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else (
            self.fs.protocol,)
        self.atomic = any(p in ATOMIC_PUT for p in protocols)

    def close(self) -> None:
        pass

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"cannot use the remote {self.name} at {self.url}: {exc}")

    # -- objects -------------------------------------------------------------------------------
    def missing(self, oids: list[str]) -> list[str]:
        try:
            return self.objects.missing(oids)
        except OSError as exc:
            raise self._unavailable(exc) from exc

    def put_object(self, oid: str, local: LocalObjectStore) -> int:
        path = local.path_for(oid)
        try:
            self.objects.put_file(path, oid)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return path.stat().st_size

    def get_object(self, oid: str, local: LocalObjectStore) -> int:
        try:
            with self.objects.open(oid) as src:
                return store_verified(local, oid, iter(lambda: src.read(1024 * 1024), b""))
        except OSError as exc:
            raise self._unavailable(exc) from exc

    # -- run records ---------------------------------------------------------------------------
    def _run_path(self, run_id: str) -> str:
        if not re.match(r"^[0-9a-f]{32}$", run_id):
            raise InvalidInput(f"not a run id: {run_id!r}")
        return f"{self.runs}/{run_id}.json"

    def put_bundle(self, run_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        final = self._run_path(run_id)
        try:
            self.fs.makedirs(self.runs, exist_ok=True)
            if self.atomic:
                self.fs.pipe_file(final, data)
            else:
                tmp = f"{self.runs}/.tmp-{uuid.uuid4().hex}"
                self.fs.pipe_file(tmp, data)
                self.fs.mv(tmp, final)
        except OSError as exc:
            raise self._unavailable(exc) from exc
        return {"id": run_id, "number": None}

    def get_bundle(self, run_id: str) -> dict[str, Any]:
        try:
            data = self.fs.cat_file(self._run_path(run_id))
        except FileNotFoundError:
            raise NotFound(f"the remote {self.name} has no run {run_id}") from None
        except OSError as exc:
            raise self._unavailable(exc) from exc
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise InvalidInput(f"the remote {self.name} holds a damaged record of run "
                               f"{run_id}: {exc}") from exc
        if not isinstance(doc, dict):
            raise InvalidInput(f"the remote {self.name} holds a damaged record of run {run_id}")
        return doc

    def run_ids(self) -> list[str]:
        self.fs.invalidate_cache(self.runs)
        try:
            names = self.fs.ls(self.runs, detail=False)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise self._unavailable(exc) from exc
        ids = [posixpath.basename(str(n)).removesuffix(".json") for n in names
               if str(n).endswith(".json")]
        return sorted(i for i in ids if re.match(r"^[0-9a-f]{32}$", i))

    def resolve(self, ref: str) -> dict[str, Any]:
        """``last``, an id prefix, or a name or number as the pusher recorded it."""
        ids = self.run_ids()
        if not ids:
            raise NotFound(f"the remote {self.name} has no runs")
        ref = ref.strip()
        if ref == "last":
            return self._brief(ids[-1])  # ids are time-ordered (UUIDv7)
        if _HEX.match(ref.lower()) and not ref.isdigit():
            hits = [i for i in ids if i.startswith(ref.lower())]
            if len(hits) == 1:
                return self._brief(hits[0])
            if hits:
                raise Ambiguous(f"{ref!r} matches {len(hits)} runs on {self.name}",
                                hint="give more characters of the id")
        found = [b for b in (self._brief(i) for i in reversed(ids))
                 if b["name"] == ref or str(b["number"]) == ref or b["id"].startswith(ref)]
        if not found:
            raise NotFound(f"no run on the remote {self.name} matches {ref!r}")
        if len(found) > 1:
            listed = ", ".join(f"{b['id'][:12]} ({b['name'] or b['number']})" for b in found[:5])
            raise Ambiguous(f"{ref!r} matches several runs on {self.name}: {listed}",
                            hint="pull it by id prefix instead")
        return found[0]

    def _brief(self, run_id: str) -> dict[str, Any]:
        run = self.get_bundle(run_id).get("run") or {}
        return {"id": run_id, "number": run.get("number"), "name": run.get("name"),
                "status": run.get("status")}
