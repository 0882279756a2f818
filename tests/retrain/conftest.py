"""A served scikit-learn model with labelled production predictions, made once per module.

``train.py`` fits a LogisticRegression on ``data/train.csv`` and adds the rows named by
``CAIRN_FEEDBACK_DATA`` when that is set; it runs under ``cairn run``, is registered as
``churn`` and aliased ``production``. The real ``cairn serve`` then answers 60 predictions
whose inputs come from a shifted distribution, and ``/feedback`` labels every one.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PYTHON
from tests.serving.conftest import Server, cli, ok

TRAIN = """
    import os, sys
    import pandas as pd
    import cairn
    from sklearn.linear_model import LogisticRegression

    frame = pd.read_csv("data/train.csv")
    extra = os.environ.get("CAIRN_FEEDBACK_DATA")
    if extra:
        if "--fail-on-feedback" in sys.argv:
            sys.exit(3)
        feedback = pd.read_csv(extra)
        print(f"feedback rows {len(feedback)} columns {','.join(feedback.columns)}")
        frame = pd.concat([frame, feedback], ignore_index=True)
    X, y = frame.drop(columns=["outcome"]), frame["outcome"]
    model = LogisticRegression().fit(X, y)
    cairn.log_model(model, "model", example=X.iloc[:5])
    print(f"trained on {len(frame)} rows")
"""

PRODUCTION_ROWS = 60


@dataclass
class Served:
    root: Path
    rows: list[dict[str, float]]  # the production inputs, in the order they were sent
    labels: list[int]


def rows_and_labels(seed: int, n: int, shift: float) -> tuple[list[dict[str, float]], list[int]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) + shift
    y = ((x[:, 0] + 0.5 * x[:, 1] - shift * x[:, 2]) > 0).astype(int)
    rows = [{"a": float(r[0]), "b": float(r[1]), "c": float(r[2])} for r in x]
    return rows, [int(v) for v in y]


def write_training_data(root: Path) -> None:
    rows, labels = rows_and_labels(0, 200, 0.0)
    lines = ["a,b,c,outcome"] + [f"{r['a']!r},{r['b']!r},{r['c']!r},{y}"
                                 for r, y in zip(rows, labels, strict=True)]
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("\n".join(lines) + "\n")


def runs(root: Path) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = json.loads(ok(cli(root, "ls", "--json")))
    return listed


def versions(root: Path, name: str) -> list[int]:
    models = json.loads(ok(cli(root, "model", "ls", "--json")))
    found = [m for m in models if m["name"] == name]
    return list(range(1, found[0]["versions"] + 1)) if found else []


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    root = tmp_path_factory.mktemp("churn")
    (root / "train.py").write_text(textwrap.dedent(TRAIN).lstrip())
    write_training_data(root)
    ok(cli(root, "init"))
    ok(cli(root, "run", "-i", "data", "--", PYTHON, "train.py"))
    ok(cli(root, "model", "register", "1:model", "--name", "churn"))
    ok(cli(root, "model", "alias", "churn@1", "production"))
    rows, labels = rows_and_labels(1, PRODUCTION_ROWS, 0.7)
    server = Server(root, "churn@production")
    try:
        answer = server.post("/predict", json={"inputs": rows})
        assert answer.status_code == 200, answer.text
        ids = answer.json()["prediction_ids"]
        sent = server.post("/feedback", json=[{"prediction_id": pid, "label": label}
                                              for pid, label in zip(ids, labels, strict=True)])
        assert sent.status_code == 200, sent.text
    finally:
        server.stop()  # writes what the prediction log still holds
    return Served(root, rows, labels)
