"""XGBoost boosters and scikit-learn-style estimators, in XGBoost's own UBJSON format.

The native format loads across XGBoost versions and runs no code, unlike a pickle. An
estimator (``XGBClassifier`` …) is rebuilt as the same class, so ``predict_proba`` and
``classes_`` behave as they did; a bare ``Booster`` predicts through a ``DMatrix``, and a
binary or multi-class objective turns its probabilities into labels.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import Corrupt
from cairn.models.flavors.base import Flavor, Predictor, Task, estimator_predictor
from cairn.models.flavors.boosting import booster_predictor

MODEL_FILE = "model.ubj"


class XGBoostFlavor(Flavor):
    name = "xgboost"
    module = "xgboost"
    extra = "xgboost"
    packages = ("xgboost", "numpy", "scipy")

    def save(self, model: Any, folder: Path, example: Any | None) -> dict[str, Any]:
        import xgboost

        model.save_model(str(folder / MODEL_FILE))
        if isinstance(model, xgboost.Booster):
            return {"file": MODEL_FILE, "api": "booster", "objective": _objective(model)}
        cls = type(model)
        if not hasattr(xgboost, cls.__name__):
            raise Corrupt(f"{cls.__module__}.{cls.__qualname__} is not an XGBoost class")
        return {"file": MODEL_FILE, "api": "sklearn", "class": cls.__name__}

    def load(self, folder: Path, info: Mapping[str, Any]) -> Predictor:
        import xgboost

        path = folder / str(info.get("file", MODEL_FILE))
        if not path.is_file():
            raise Corrupt(f"the model file {path.name} is missing from {folder}")
        if info.get("api") == "sklearn":
            model = getattr(xgboost, str(info["class"]))()
            model.load_model(str(path))
            return estimator_predictor(model)
        booster = xgboost.Booster()
        booster.load_model(str(path))

        def raw(inputs: Any) -> Any:
            return booster.predict(xgboost.DMatrix(inputs))

        return booster_predictor(booster, raw, _objective(booster))

    def task(self, model: Any) -> Task:
        import xgboost

        if isinstance(model, xgboost.Booster):
            return booster_predictor(model, model.predict, _objective(model)).task
        return super().task(model)


def _objective(booster: Any) -> str:
    import xgboost

    if not isinstance(booster, xgboost.Booster):
        booster = booster.get_booster()
    config = json.loads(booster.save_config())
    return str(config["learner"]["objective"]["name"])


FLAVOR = XGBoostFlavor()
