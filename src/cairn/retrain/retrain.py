"""The ``cairn retrain NAME@ALIAS`` workflow.

1. Export the model's labelled predictions (all versions) as a data file with the model's
   columns and the label, keeping the newest ``holdout`` rows aside.
2. Fork the version's training run with the file added as an input at
   ``cairn-feedback/NAME.csv``; the training script finds its path in
   ``CAIRN_FEEDBACK_DATA``. A later retrain replaces that input with the newer log.
3. Take the model the new run logged at the version's path, score it and the current
   version on the held-out rows, and register it as the next version with alias
   ``candidate`` and the comparison in its record.

Nothing is registered unless the training run ends well and logs a model. Promotion stays a
human decision: ``cairn model alias NAME@V production``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, InvalidInput, NotFound
from cairn.models.registry import ModelVersion, get_version, parse_ref
from cairn.project import Project
from cairn.retrain import feedback
from cairn.settings import Internal
from cairn.store import runs as run_store
from cairn.store.core import MetaStore
from cairn.store.predictions import count_labelled

CANDIDATE = "candidate"
ENV_VAR = Internal.FEEDBACK_DATA
FEEDBACK_DIR = "cairn-feedback"


@dataclass(frozen=True)
class RetrainOptions:
    holdout: int | None = None  # default: a fifth of the labelled rows, at most 500
    label_column: str | None = None
    fmt: str = "csv"
    echo: bool = True
    use_pty: bool | None = None


@dataclass(frozen=True)
class RetrainResult:
    current: ModelVersion
    selector: str  # what the user named it by: "production", "3"
    training_run: run_store.RunRow
    run: run_store.RunRow
    version: ModelVersion
    data: feedback.FeedbackData
    comparison: dict[str, Any]
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.version.name,
            "from": {"version": self.current.version, "selector": self.selector,
                     "run": self.training_run.number},
            "run": {"number": self.run.number, "id": self.run.id},
            "version": self.version.version,
            "alias": CANDIDATE,
            "feedback": {"rows": self.data.rows, "label_column": self.data.label_column,
                         "columns": list(self.data.columns),
                         "path": f"{FEEDBACK_DIR}/{self.data.path.name}"},
            "comparison": self.comparison,
            "warnings": list(self.warnings),
        }


Step = Callable[[str], None]


def retrain(project: Project, store: MetaStore, ref: str, opts: RetrainOptions,
            *, on_step: Step | None = None) -> RetrainResult:
    """Retrain ``ref``'s model on its labelled predictions; see the module docstring."""
    from cairn.fork.fork import ForkOptions, fork_run
    from cairn.fork.inputs import AddedInput
    from cairn.models.registry import model_id

    name, selector = parse_ref(ref)
    current = get_version(store, name, selector)
    model = model_id(store, name)
    labelled = count_labelled(store.db, model)
    if labelled == 0:
        raise NotFound(f"{name} has no labelled predictions yet, so there is nothing to "
                       "retrain on; nothing was run",
                       hint=f"send ground truth to POST /feedback of: cairn serve {ref}")
    holdout = feedback.default_holdout(labelled) if opts.holdout is None else opts.holdout
    if holdout < 0 or holdout >= labelled:
        raise InvalidInput(f"--holdout {holdout} leaves no labelled predictions to train on "
                           f"({name} has {labelled:,}); give fewer than {labelled:,}")
    if opts.fmt not in feedback.FORMATS:
        raise InvalidInput(f"unknown format {opts.fmt!r}; use csv or parquet")
    feedback.require_format(opts.fmt)
    training = run_store.get_run(store, current.run_id)
    if not training.command:
        raise InvalidInput(f"{current.ref} was logged by run {training.number}, which cairn did "
                           "not launch, so it cannot be re-run with new data",
                           hint="train it with: cairn run -- python train.py, register that "
                                "model, then retrain")
    columns, label = _columns(project, store, model, current, training, opts.label_column)
    step = on_step or (lambda _line: None)
    with tempfile.TemporaryDirectory(prefix="cairn-retrain-") as scratch:
        data = feedback.export(store.db, model, Path(scratch) / f"{name}.{opts.fmt}",
                               columns, label, holdout, opts.fmt)
        step(f"exported {data.rows:,} labelled production rows; holding out the last "
             f"{len(data.holdout):,} to compare on")
        forked = fork_run(project, store, training, ForkOptions(
            added=[AddedInput(f"{FEEDBACK_DIR}/{data.path.name}", data.path, ENV_VAR)],
            message=f"retrain {current.ref} with {data.rows:,} labelled production rows",
            echo=opts.echo, use_pty=opts.use_pty,
        ))
    new = forked.fork
    if forked.exit_code != 0 or new.status != "finished":
        raise CairnError(f"the training run {new.number} ended {new.status} (exit "
                         f"{forked.exit_code}); nothing was registered",
                         hint=f"see why: cairn logs {new.number}")
    version, comparison, warnings = _register(project, store, current, new, data)
    return RetrainResult(current, selector, training, new, version, data, comparison,
                         (*forked.warnings, *warnings))


def _columns(project: Project, store: MetaStore, model: str, current: ModelVersion,
             training: run_store.RunRow, label_option: str | None) -> tuple[list[str], str]:
    """The feature columns and the label's name in the training data."""
    sample = feedback.newest(store.db, model, 1)
    columns = feature_columns_of(current, sample[0].inputs if sample else None)
    label = label_option or current.record.get("label_column")
    if not label:
        from cairn.objects.local import LocalObjectStore
        from cairn.store.artifacts import list_artifacts

        inputs = [(a.path, a.oid, a.is_tree) for a in list_artifacts(store, training.id)
                  if a.kind == "input"]
        label = feedback.guess_label_column(LocalObjectStore(project.objects_dir), inputs,
                                            columns) or feedback.DEFAULT_LABEL
    if str(label) in columns:
        raise InvalidInput(f"the label column {label!r} is also one of the model's inputs; "
                           "name another with --label-column")
    return columns, str(label)


def feature_columns_of(version: ModelVersion, sample: Any) -> list[str]:
    signature = version.record.get("signature")
    return feedback.feature_columns(signature if isinstance(signature, dict) else None, sample)


def _register(project: Project, store: MetaStore, current: ModelVersion,
              new: run_store.RunRow, data: feedback.FeedbackData
              ) -> tuple[ModelVersion, dict[str, Any], list[str]]:
    from cairn.models.artifact import stored_meta
    from cairn.models.loading import load_model_dir, load_version, materialize
    from cairn.models.registry import model_artifact, register, set_alias
    from cairn.retrain.compare import compare

    try:
        oid, _kind = model_artifact(store, new.id, new.number, current.path)
    except NotFound as exc:
        raise NotFound(f"run {new.number} logged no model at {current.path!r}, so nothing "
                       "was registered", hint=exc.hint) from exc
    warnings: list[str] = []
    if oid == current.oid:
        warnings.append(f"the new model's files are identical to {current.ref}: the training "
                        f"script may not read {ENV_VAR}")
    meta = stored_meta(project, oid, f"run {new.number}'s {current.path!r}")
    candidate = load_model_dir(materialize(project, oid), name=current.name, run_id=new.id)
    serving, error = None, None
    try:
        serving = load_version(project, store, f"{current.name}@{current.version}")
    except CairnError as exc:
        error = exc.message
    comparison = compare(candidate, serving, error, data.columns, data.holdout)
    comparison["against_version"] = current.version
    record = {
        "comparison": comparison,
        "label_column": data.label_column,
        "retrain": {"from_version": current.version, "training_run": current.run_id,
                    "feedback_rows": data.rows, "feedback_input": f"{FEEDBACK_DIR}/"
                    f"{data.path.name}", "first_prediction_at": data.first_at,
                    "last_prediction_at": data.last_at},
    }
    version = register(store, new.id, current.path, current.name, meta=meta, record=record)
    version = set_alias(store, current.name, version.version, CANDIDATE)
    return version, comparison, warnings
