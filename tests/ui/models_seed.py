"""A project that has been through the whole deployment loop, for the model and deployment pages.

Everything is made by cairn itself, in real processes, on a real git repository:

1. ``cairn run -i data -- python train.py`` fits a scikit-learn LogisticRegression on
   ``data/train.csv`` (features a, b, c; label ``outcome``) and logs it with
   ``cairn.log_model``; it is registered as ``churn`` version 1, aliased production and
   staging.
2. Predictions of ``churn@1`` are written by the serving code's own prediction log writer,
   spread over the last 90 minutes. Features ``a`` and ``b`` come from a shifted
   distribution, ``c`` does not; ground truth arrives through the feedback function the
   server's ``POST /feedback`` uses.
3. ``cairn retrain churn@production`` forks run 1 with the labelled predictions and registers
   ``churn`` version 2 (alias candidate) with its comparison; staging then moves to 2.
4. ``demand`` is a regressor (run 3) with labelled predictions, and ``churn-shadow`` a model
   registered but never served.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.conftest import PYTHON, git

TRAIN = """
    import os
    import pandas as pd
    import cairn
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv("data/train.csv")
    extra = os.environ.get("CAIRN_FEEDBACK_DATA")
    if extra:
        frame = pd.concat([frame, pd.read_csv(extra)], ignore_index=True)
    X, y = frame[["a", "b", "c"]], frame["outcome"]
    model = LogisticRegression().fit(X, y)
    cairn.log_params({"rows": len(frame)})
    cairn.log({"train_accuracy": float(model.score(X, y))})
    cairn.log_model(model, "model", example=X.iloc[:5], profile_data=X)
    print(f"trained on {len(frame)} rows")
"""

TRAIN_DEMAND = """
    import pandas as pd
    import cairn
    from sklearn.linear_model import LinearRegression

    frame = pd.read_csv("data/train.csv")
    X, y = frame[["a", "b", "c"]], 3 * frame["a"] - frame["c"] + 10
    model = LinearRegression().fit(X, y)
    cairn.log({"train_r2": float(model.score(X, y))})
    cairn.log_model(model, "model", example=X.iloc[:5], profile_data=X)
"""

CHURN_PREDICTIONS = 240
CHURN_LABELLED = 200
DEMAND_PREDICTIONS = 300
SHIFT = 2.5


@dataclass
class ModelsProject:
    root: Path
    churn_ids: list[str]  # the prediction ids of churn@1, oldest first
    churn_rows: list[dict[str, float]]
    demand_ids: list[str]
    training_run: int  # the run that trained churn@1
    retrain_run: int  # the fork that trained churn@2
    commit: str  # the commit churn@1 was trained at


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAIRN_")}
    env.update(COLUMNS="200", PYTHONUNBUFFERED="1", CAIRN_USER="ana")
    return env


def cli(root: Path, *args: str, user: str = "ana") -> str:
    env = clean_env()
    env["CAIRN_USER"] = user
    done = subprocess.run([PYTHON, "-m", "cairn", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, f"cairn {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout


def truth(rows: np.ndarray, moved: np.ndarray | float = 0.0) -> np.ndarray:
    """The label rule; ``moved`` raises its threshold (the world changing under the model)."""
    above: np.ndarray = rows[:, 0] + 0.5 * rows[:, 1] - rows[:, 2] > 0.3 + moved
    return above.astype(int)


def _write_data(root: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = truth(x)
    lines = ["a,b,c,outcome"] + [f"{r[0]!r},{r[1]!r},{r[2]!r},{v}"
                                 for r, v in zip(x.tolist(), y.tolist(), strict=True)]
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("\n".join(lines) + "\n")


def _log_predictions(root: Path, name: str, version: int, rows: list[dict[str, float]],
                     labels: list[Any] | None, *, span_ms: int) -> list[str]:
    """Score ``rows`` with the registered model and log them as the server does."""
    from cairn._util.ids import now_ms
    from cairn.model_server.feedback import apply_feedback
    from cairn.model_server.predictions import PredictionLog, new_prediction_id
    from cairn.models.loading import load_version
    from cairn.models.registry import model_id as find_model_id
    from cairn.project import find_project
    from cairn.store.core import open_store
    from cairn.store.predictions import LogRow

    project = find_project(root)
    assert project is not None
    store = open_store(project)
    try:
        model = load_version(project, store, f"{name}@{version}")
        outputs = [v.item() if hasattr(v, "item") else v for v in model.predict(rows)]
        model_id = find_model_id(store, name)
        start = now_ms() - span_ms
        step = span_ms // len(rows)
        ids = [new_prediction_id() for _ in rows]
        entries: list[LogRow] = [
            (pid, model_id, version, start + i * step, row, out,
             0.4 + 0.01 * (i % 30))
            for i, (pid, row, out) in enumerate(zip(ids, rows, outputs, strict=True))
        ]
        log = PredictionLog(store.db)
        log.record(entries)
        assert log.flush()
        if labels is not None:
            apply_feedback(store.db, model_id,
                           [(pid, json.dumps(label)) for pid, label in zip(ids, labels,
                                                                          strict=False)])
        return ids
    finally:
        store.close()


def seed_models_project(root: Path) -> ModelsProject:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    (root / "train.py").write_text(textwrap.dedent(TRAIN).lstrip())
    (root / "train_demand.py").write_text(textwrap.dedent(TRAIN_DEMAND).lstrip())
    (root / ".gitignore").write_text(".cairn/\n")
    _write_data(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "churn model")
    commit = git(root, "rev-parse", "HEAD").strip()
    cli(root, "init")
    cli(root, "run", "--name", "churn-train", "-i", "data", "--", PYTHON, "train.py")
    cli(root, "model", "register", "1:model", "--name", "churn")
    cli(root, "model", "alias", "churn@1", "production")
    cli(root, "model", "alias", "churn@1", "staging", user="bo")

    rng = np.random.default_rng(7)
    x = rng.normal(size=(CHURN_PREDICTIONS, 3))
    later = np.linspace(0.0, 1.0, CHURN_PREDICTIONS)  # the shift grows over the 90 minutes
    x[:, 0] += SHIFT * later
    x[:, 1] += SHIFT * later
    rows = [{"a": r[0], "b": r[1], "c": r[2]} for r in x.tolist()]
    labels = truth(x, 2.5 * later).tolist()[:CHURN_LABELLED]
    churn_ids = _log_predictions(root, "churn", 1, rows, labels, span_ms=90 * 60_000)

    cli(root, "retrain", "churn@production", "--holdout", "40", "--label-column", "outcome")
    cli(root, "model", "alias", "churn@2", "staging", user="bo")

    cli(root, "run", "--name", "demand-train", "-i", "data", "--", PYTHON, "train_demand.py")
    cli(root, "model", "register", "3:model", "--name", "demand")
    cli(root, "model", "alias", "demand@1", "production")
    d = rng.normal(size=(DEMAND_PREDICTIONS, 3))
    demand_rows = [{"a": r[0], "b": r[1], "c": r[2]} for r in d.tolist()]
    noise = rng.normal(0.3, 0.8, size=DEMAND_PREDICTIONS)
    demand_labels = [3 * r[0] - r[2] + 10 + e for r, e in zip(d.tolist(), noise.tolist(),
                                                               strict=True)]
    demand_ids = _log_predictions(root, "demand", 1, demand_rows, demand_labels,
                                  span_ms=30 * 60_000)
    cli(root, "model", "register", "1:model", "--name", "churn-shadow")
    return ModelsProject(root, churn_ids, rows, demand_ids, 1, 2, commit)
