"""``cairn.log_model`` and ``cairn.load_model``: models in and out of runs from Python."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cairn.models.loading import LoadedModel
    from cairn.models.signature import Signature


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` stored: the run, the artifact path and the model folder's oid."""

    run_id: str
    path: str
    oid: str
    flavor: str
    signature: Signature | None


def log_model(
    model: Any,
    name: str = "model",
    example: Any | None = None,
    flavor: str | None = None,
    profile_data: Any | None = None,
) -> ModelInfo:
    """Store ``model`` in the current run (joined or started like ``cairn.log``).

    The flavor is detected from the object unless given; ``example`` (a few input rows)
    gives the signature and is kept with the model; ``profile_data`` (or else the example)
    is profiled per feature for drift detection.
    """
    from cairn.errors import StoreUnavailable
    from cairn.models.artifact import log_model_to_run
    from cairn.models.packaging import read_signature
    from cairn.sdk.api import _current

    run = _current()
    store, project = run._store, run._project
    if store is None or project is None:
        raise StoreUnavailable("no cairn store is open, so the model was not recorded")
    row, meta = log_model_to_run(store, project, run.id, model, name=name, example=example,
                                 flavor=flavor, profile_data=profile_data)
    return ModelInfo(run_id=run.id, path=row.path, oid=row.oid, flavor=str(meta["flavor"]),
                     signature=read_signature(meta))


def load_model(ref: str) -> LoadedModel:
    """Load a registered model: ``"churn@production"``, ``"churn@3"``, ``"models:/churn@3"``.

    The answer predicts with ``.predict(rows)``; ``.native`` is the library's own object.
    """
    from cairn.models.loading import load_version
    from cairn.sdk.api import _open

    store, project = _open()
    return load_version(project, store, ref)
