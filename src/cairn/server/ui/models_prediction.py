"""One logged prediction and the chain behind it: model version, training run, code,
environment and data, each a link to where it is shown in full.

Each input value is placed against the training profile (its percentile, or how often a
category was seen), so an odd input can be spotted without opening the drift report.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cairn._util.fmt import fmt_value
from cairn.errors import CairnError, NotFound
from cairn.models.registry import ModelVersion, get_version
from cairn.objects.base import ObjectStore
from cairn.server.ui.models_views import (
    PredictionRow,
    maybe_run,
    model_files,
    ordered_aliases,
    prediction_row,
)
from cairn.store import runs as run_store
from cairn.store.artifacts import ArtifactRow, list_artifacts
from cairn.store.core import MetaStore


@dataclass(frozen=True)
class InputValue:
    name: str
    value: Any
    place: str | None  # where it sits in the training data, in words
    unusual: bool = False


@dataclass
class PredictionPage:
    row: PredictionRow
    model: str
    version: ModelVersion | None
    run: run_store.RunRow | None
    code: dict[str, Any]
    env: dict[str, Any]
    data: list[ArtifactRow]
    forked_from: run_store.RunRow | None
    values: list[InputValue]
    task: str | None
    requirements: dict[str, str] = field(default_factory=dict)
    packages: int = 0
    note: str | None = None

    @property
    def aliases(self) -> list[str]:
        return ordered_aliases(self.version.aliases) if self.version else []


def prediction_page(store: MetaStore, objects: ObjectStore, prediction_id: str) -> PredictionPage:
    from cairn.history.describe import describe_run
    from cairn.store.predictions import get_predictions, model_name_of

    found = model_name_of(store.db, store.project_id, prediction_id)
    logged = get_predictions(store.db, [prediction_id]) if found else []
    if not found or not logged:
        raise NotFound(f"no logged prediction has the id {prediction_id!r}",
                       hint="prediction ids are what /predict answered, as p_0190…")
    name, p = found, logged[0]
    version: ModelVersion | None = None
    try:
        version = get_version(store, name, p.version)
    except NotFound:
        pass
    meta: dict[str, Any] = {}
    profile: dict[str, Any] | None = None
    note = None
    if version is not None:
        try:
            meta, profile = model_files(objects, version)
        except (CairnError, ValueError, OSError):
            note = f"the files of {version.ref} are not in this store"
    record = version.record if version else {}
    task = meta.get("task") or record.get("task")
    names = _feature_names(meta or record)
    run = maybe_run(store, version.run_id) if version else None
    info: dict[str, Any] = {}
    if run is not None:
        info = describe_run(store, run, objects, with_diff=False)
    forked = (info.get("lineage") or {}).get("forked_from")
    env = dict(info.get("env") or {})
    return PredictionPage(
        row=prediction_row(p, names, task), model=name, version=version, run=run,
        code=dict(info.get("code") or {}), env=env,
        data=list_artifacts(store, run.id, "input") if run else [],
        forked_from=maybe_run(store, forked) if forked else None,
        values=input_values(p.inputs, names, (profile or {}).get("features") or {}),
        task=task, requirements=dict(meta.get("requirements") or record.get("requirements")
                                     or {}),
        packages=len(env.get("packages") or {}), note=note,
    )


def _feature_names(meta: Mapping[str, Any]) -> list[str]:
    from cairn.models.packaging import read_signature

    try:
        signature = read_signature(meta)
    except (CairnError, KeyError, TypeError, ValueError):
        return []
    return signature.feature_names if signature else []


def input_values(inputs: Any, names: Sequence[str],
                 profile: Mapping[str, Any]) -> list[InputValue]:
    if isinstance(inputs, Mapping):
        pairs = [(str(k), v) for k, v in inputs.items()]
    elif isinstance(inputs, list):
        pairs = [(names[i] if i < len(names) else str(i), v) for i, v in enumerate(inputs)]
    else:
        pairs = [("input", inputs)]
    out = []
    for name, value in pairs:
        spec = profile.get(name)
        place, unusual = placement(value, spec) if isinstance(spec, Mapping) else (None, False)
        out.append(InputValue(name, value, place, unusual))
    return out


def placement(value: Any, spec: Mapping[str, Any]) -> tuple[str | None, bool]:
    """Where ``value`` sits among the training values of its feature, and whether that is
    unusual (outside the training range, beyond the 1st or 99th percentile, or a category
    never or rarely seen)."""
    freqs = spec.get("frequencies")
    if isinstance(freqs, Mapping):
        key = ("true" if value else "false") if isinstance(value, bool) else str(value)
        total = sum(float(v) for v in freqs.values()) + float(spec.get("other") or 0)
        seen = float(freqs.get(key, 0))
        if not seen:
            return "never seen in training", True
        share = seen / total if total else 0.0
        return f"{share:.0%} of training rows", share < 0.01
    percentiles = [v for v in spec.get("percentiles") or [] if isinstance(v, (int, float))]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or len(percentiles) < 2:
        return None, False
    low, high = percentiles[0], percentiles[-1]
    if value < low:
        return f"below the training range (min {fmt_value(low, 3)})", True
    if value > high:
        return f"above the training range (max {fmt_value(high, 3)})", True
    rank = min(100, max(0, bisect.bisect_left(percentiles, value)))
    return f"percentile {rank} of training", rank < 1 or rank > 99
