"""LightGBM boosters and scikit-learn-style estimators, in LightGBM's text model format.

The text format runs no code on loading. LightGBM cannot rebuild an ``LGBMClassifier`` from
it, so a loaded model is the ``Booster`` (``.native``) with the estimator's classes kept
beside it: labels, ``predict_proba`` and ``classes_`` answer as the estimator did.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import Corrupt
from cairn.models.flavors.base import Flavor, Predictor, Task, to_list
from cairn.models.flavors.boosting import booster_predictor, objective_task

MODEL_FILE = "model.txt"


class LightGBMFlavor(Flavor):
    name = "lightgbm"
    module = "lightgbm"
    extra = "lightgbm"
    packages = ("lightgbm", "numpy", "scipy")

    def save(self, model: Any, folder: Path, example: Any | None) -> dict[str, Any]:
        import lightgbm

        booster = model if isinstance(model, lightgbm.Booster) else model.booster_
        booster.save_model(str(folder / MODEL_FILE))
        info: dict[str, Any] = {"file": MODEL_FILE, "objective": _objective(booster)}
        if isinstance(model, lightgbm.Booster):
            info["api"] = "booster"
        else:
            info["api"] = "sklearn"
            info["class"] = type(model).__name__
            classes = to_list(getattr(model, "classes_", None))
            if classes is not None:
                info["classes"] = [c.item() if hasattr(c, "item") else c for c in classes]
        return info

    def load(self, folder: Path, info: Mapping[str, Any]) -> Predictor:
        import lightgbm

        path = folder / str(info.get("file", MODEL_FILE))
        if not path.is_file():
            raise Corrupt(f"the model file {path.name} is missing from {folder}")
        booster = lightgbm.Booster(model_file=str(path))
        objective = str(info.get("objective") or _objective(booster))
        classes = info.get("classes")
        return booster_predictor(booster, booster.predict, objective, classes)

    def task(self, model: Any) -> Task:
        import lightgbm

        booster = model if isinstance(model, lightgbm.Booster) else model.booster_
        return objective_task(_objective(booster))


def _objective(booster: Any) -> str:
    return str(booster.dump_model(num_iteration=0).get("objective", ""))


FLAVOR = LightGBMFlavor()
