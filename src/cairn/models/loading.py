"""Loading a model: from a folder, or by registry reference through a local cache.

``load_version`` restores a version's tree once into ``.cairn/models-cache/<oid>/`` (a
temporary folder renamed into place, so a half-restored cache is never used) and loads from
there; the oid names the exact bytes, so the cache never goes stale.

Unpickling runs code. A pickle-based model that came from another person's run (a run pulled
from a remote records its ``origin``; a run or version made by another user) prints a warning
before it is loaded.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, NotFound
from cairn.models.flavors.base import Predictor, get_flavor
from cairn.models.packaging import read_example, read_meta, read_profile, read_signature
from cairn.models.registry import ModelVersion, current_user, get_version, parse_ref
from cairn.models.signature import Signature
from cairn.project import Project
from cairn.store.core import MetaStore

CACHE_DIRNAME = "models-cache"


class LoadedModel:
    """A model ready to predict, whatever its flavor; ``native`` is the library's own object."""

    def __init__(self, folder: Path, meta: dict[str, Any], predictor: Predictor, *,
                 name: str | None = None, version: int | None = None,
                 run_id: str | None = None) -> None:
        self.path = folder
        self.meta = meta
        self.flavor: str = str(meta["flavor"])
        self.signature: Signature | None = read_signature(meta)
        self.profile: dict[str, Any] | None = read_profile(folder, meta)
        self.task: str | None = predictor.task or meta.get("task")
        self.name = name
        self.version = version
        self.run_id = run_id
        self._predictor = predictor

    def __repr__(self) -> str:
        where = f"{self.name}@{self.version}" if self.name else str(self.path)
        return f"<cairn.LoadedModel {where} {self.flavor}>"

    @property
    def native(self) -> Any:
        return self._predictor.native

    @property
    def requirements(self) -> dict[str, str]:
        return dict(self.meta.get("requirements") or {})

    @property
    def example(self) -> Any:
        """The input example logged with the model (records or rows), or None."""
        return read_example(self.path, self.meta)

    def prepare(self, inputs: Any) -> Any:
        """``inputs`` checked against the signature and converted for the model."""
        return self.signature.validate(inputs) if self.signature is not None else inputs

    def predict(self, inputs: Any, *, validate: bool = True) -> Any:
        """Predictions for a batch: a DataFrame, an array, rows or records."""
        batch = self.prepare(inputs) if validate else inputs
        return self._predictor.predict(batch)

    @property
    def predict_proba(self) -> Callable[..., Any]:
        """Class probabilities; absent (``AttributeError``) for models without them."""
        proba = self._predictor.predict_proba
        if proba is None:
            raise AttributeError(f"this {self.flavor} model has no predict_proba")
        found = proba

        def predict_proba(inputs: Any, *, validate: bool = True) -> Any:
            return found(self.prepare(inputs) if validate else inputs)

        return predict_proba

    @property
    def classes_(self) -> list[Any]:
        if self._predictor.classes is None:
            raise AttributeError(f"this {self.flavor} model has no classes_")
        return self._predictor.classes


def load_model_dir(folder: Path, *, name: str | None = None, version: int | None = None,
                   run_id: str | None = None, warn_source: str | None = None) -> LoadedModel:
    """Load the model folder ``folder``; ``warn_source`` names who it came from when the
    caller knows it is someone else's, so that a pickle-based model warns before loading."""
    folder = Path(folder)
    meta = read_meta(folder)
    flavor = get_flavor(str(meta["flavor"]))
    info = meta.get("flavor_info") or {}
    if warn_source and flavor.uses_pickle(info):
        what = f"model {name}@{version}" if name else f"the model in {folder}"
        print(f"cairn: warning: {what} is stored with pickle and comes from {warn_source}; "
              "unpickling runs code from it, so load only models you trust",
              file=sys.stderr, flush=True)
    flavor.require()
    predictor = flavor.load(folder, info)
    return LoadedModel(folder, meta, predictor, name=name, version=version, run_id=run_id)


def load_version(project: Project, store: MetaStore, ref: str) -> LoadedModel:
    """Load ``NAME@VERSION_OR_ALIAS`` (or ``models:/NAME@ALIAS``) from the registry."""
    name, selector = parse_ref(ref)
    mv = get_version(store, name, selector)
    folder = materialize(project, mv.oid)
    return load_model_dir(folder, name=mv.name, version=mv.version, run_id=mv.run_id,
                          warn_source=foreign_source(store, mv))


def foreign_source(store: MetaStore, mv: ModelVersion) -> str | None:
    """Who else a version came from (a remote, another user), or None when it is one's own."""
    from cairn.store.runs import get_run

    run = get_run(store, mv.run_id)
    if run.record.origin is not None:
        return f"the remote {run.record.origin.remote}"
    me = current_user()
    for who in (run.created_by, mv.created_by):
        if who and who != me:
            return f"the user {who}"
    return None


def materialize(project: Project, oid: str) -> Path:
    """The model folder of tree ``oid``, restored once into the project's model cache."""
    from cairn.objects.local import LocalObjectStore
    from cairn.objects.tree import restore_tree

    cache = project.store_dir / CACHE_DIRNAME
    target = cache / oid
    if target.is_dir():
        return target
    objects = LocalObjectStore(project.objects_dir)
    if not objects.has(oid):
        raise NotFound(f"the model's files (object {oid[:12]}) are not in this project's store",
                       hint="fetch the run that logged it with: cairn pull RUN")
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{oid[:12]}-{uuid.uuid4().hex[:8]}"
    try:
        restore_tree(objects, oid, tmp)
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # not another process winning the race: a real failure
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def to_rows(out: Any, n: int) -> list[Any]:
    """Model output as one plain JSON value per input row."""
    to_numpy = getattr(out, "to_numpy", None)
    if callable(to_numpy):
        out = to_numpy()
    tolist = getattr(out, "tolist", None)
    values = tolist() if callable(tolist) else list(out)
    if not isinstance(values, list) or len(values) != n:
        got = len(values) if isinstance(values, list) else 1
        raise CairnError(f"the model answered {got} predictions for {n} rows")
    return values
