"""What the models list and a model's page show, read from the registry; and the pieces the
deployment and prediction pages share (the stored model folder, rows of the prediction log).

No page loads a model: its signature and training profile are read from the two small
files of its stored folder, so a page about a large model costs two small reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn._util.fmt import fmt_value
from cairn.errors import NotFound
from cairn.history.leaderboard import SYS_PREFIX
from cairn.models.registry import (
    AliasMove,
    ModelVersion,
    RegisteredModel,
    alias_history,
    get_version,
    list_models,
    list_versions,
    model_id,
)
from cairn.objects.base import ObjectStore
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.metrics import latest_metrics
from cairn.store.predictions import LoggedPrediction, log_counts, recent_predictions

ALIAS_ORDER = ("production", "staging", "candidate")
PER_PAGE = 25
MAX_PER_PAGE = 200
MAX_METRIC_COLUMNS = 4
SUMMARY_CHARS = 80



def ordered_aliases(aliases: Mapping[str, int] | Sequence[str]) -> list[str]:
    """production, staging and candidate first, then the rest by name."""
    rank = {name: i for i, name in enumerate(ALIAS_ORDER)}
    return sorted(aliases, key=lambda a: (rank.get(a, len(rank)), a))


def find_model(store: MetaStore, name: str) -> RegisteredModel:
    for found in list_models(store):
        if found.name == name:
            return found
    get_version(store, name, "latest")  # raises NotFound with the names that exist
    raise NotFound(f"no registered model is named {name!r}")


def maybe_run(store: MetaStore, run_id: str) -> run_store.RunRow | None:
    try:
        return run_store.get_run(store, run_id)
    except NotFound:
        return None


# -- the models list ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSummary:
    model: RegisteredModel
    latest: ModelVersion | None
    predictions: int
    last_prediction_at: int | None

    @property
    def aliases(self) -> list[tuple[str, int]]:
        return [(a, self.model.aliases[a]) for a in ordered_aliases(self.model.aliases)]


def models_page(store: MetaStore) -> list[ModelSummary]:
    out = []
    for found in list_models(store):
        latest = get_version(store, found.name, "latest") if found.versions else None
        counts = log_counts(store.db, model_id(store, found.name))
        out.append(ModelSummary(found, latest, counts.predictions, counts.last_at))
    return out


# -- one model ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    """A retrained version scored against the version it was meant to replace."""

    metric: str
    higher_is_better: bool
    rows: int
    against: int | None
    better: bool | None
    candidate: dict[str, Any]
    current: dict[str, Any]

    @property
    def names(self) -> list[str]:
        keys = [k for k in ("accuracy", "precision", "recall", "f1", "mae", "rmse")
                if k in self.candidate or k in self.current]
        return sorted(keys, key=lambda k: k != self.metric)

    def winner(self, name: str) -> str | None:
        """"candidate", "current" or None for one metric (lower wins for MAE and RMSE)."""
        a, b = self.candidate.get(name), self.current.get(name)
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)) or a == b:
            return None
        higher = name not in ("mae", "rmse")
        return "candidate" if (a > b) == higher else "current"


def comparison_of(version: ModelVersion) -> Comparison | None:
    raw = version.record.get("comparison")
    if not isinstance(raw, Mapping) or not raw.get("metric"):
        return None
    against = raw.get("against_version")
    return Comparison(
        metric=str(raw["metric"]), higher_is_better=bool(raw.get("higher_is_better", True)),
        rows=int(raw.get("rows") or 0), against=int(against) if against is not None else None,
        better=raw.get("better"), candidate=dict(raw.get("candidate") or {}),
        current=dict(raw.get("current") or {}),
    )


@dataclass(frozen=True)
class VersionRow:
    version: ModelVersion
    run: run_store.RunRow | None
    metrics: dict[str, float]
    predictions: int
    comparison: Comparison | None


@dataclass
class ModelPage:
    model: RegisteredModel
    versions: list[VersionRow]
    history: list[AliasMove]
    metric_keys: list[str]

    @property
    def predictions(self) -> int:
        return sum(v.predictions for v in self.versions)

    @property
    def aliases(self) -> list[tuple[str, int]]:
        return [(a, self.model.aliases[a]) for a in ordered_aliases(self.model.aliases)]

    @property
    def compared(self) -> list[VersionRow]:
        return [v for v in self.versions if v.comparison is not None]


def model_page(store: MetaStore, name: str) -> ModelPage:
    found = find_model(store, name)
    versions = list_versions(store, name)
    metrics = latest_metrics(store, list({v.run_id for v in versions}))
    mid = model_id(store, name)
    rows = [VersionRow(v, maybe_run(store, v.run_id), metrics.get(v.run_id, {}),
                       log_counts(store.db, mid, v.version).predictions, comparison_of(v))
            for v in versions]
    keys: list[str] = []
    for row in rows:
        keys += [k for k in sorted(row.metrics) if k not in keys and not k.startswith(SYS_PREFIX)]
    return ModelPage(found, rows, alias_history(store, name), keys[:MAX_METRIC_COLUMNS])


# -- the stored model folder ------------------------------------------------------------------
def model_files(objects: ObjectStore, version: ModelVersion
                ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The version's ``cairn-model.json`` and training profile, read from its stored tree."""
    from cairn.models.packaging import META_FILE
    from cairn.objects.tree import read_tree

    entries = {e.path: e.oid for e in read_tree(objects, version.oid).entries}
    if META_FILE not in entries:
        raise NotFound(f"{version.ref} has no {META_FILE}")
    meta = json.loads(objects.get_bytes(entries[META_FILE]))
    profile_name = meta.get("profile")
    profile = None
    if profile_name and profile_name in entries:
        profile = json.loads(objects.get_bytes(entries[str(profile_name)]))
    return meta, profile if isinstance(profile, dict) else None


# -- rows of the prediction log ----------------------------------------------------------------
@dataclass(frozen=True)
class PredictionRow:
    p: LoggedPrediction
    inputs: str
    output: str
    label: str | None
    outcome: str | None  # "right" | "wrong" for classifiers, output - label for regressors


def page_of_predictions(store: MetaStore, model_id: str, version: int, page: int,
                        per_page: int) -> list[LoggedPrediction]:
    """One page of a version's predictions, newest first (the log's own order)."""
    return recent_predictions(store.db, model_id, version=version, limit=per_page,
                              offset=(page - 1) * per_page)


def summary(inputs: Any, names: Sequence[str], limit: int = SUMMARY_CHARS) -> str:
    """One logged input row as ``a=1.2 · b=x``, cut to ``limit`` characters."""
    if isinstance(inputs, Mapping):
        pairs = [(str(k), v) for k, v in inputs.items()]
    elif isinstance(inputs, list):
        pairs = [(names[i] if i < len(names) else str(i), v) for i, v in enumerate(inputs)]
    else:
        return fmt_value(inputs)
    text = " · ".join(f"{k}={fmt_value(v, 3)}" for k, v in pairs)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def outcome(output: Any, label: Any, task: str | None) -> str | None:
    from cairn.monitoring.live import REGRESSION, normalize

    if label is None:
        return None
    if task == REGRESSION:
        try:
            return fmt_value(float(normalize(output)) - float(normalize(label)), 3)
        except (TypeError, ValueError):
            return None
    return "right" if normalize(output) == normalize(label) else "wrong"


def prediction_row(p: LoggedPrediction, names: Sequence[str], task: str | None) -> PredictionRow:
    return PredictionRow(p, summary(p.inputs, names), fmt_value(p.output),
                         None if p.label is None else fmt_value(p.label),
                         outcome(p.output, p.label, task))
