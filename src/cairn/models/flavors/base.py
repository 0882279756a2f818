"""What a flavor is, and finding an object's flavor without importing any ML library.

Detection reads the module names along ``type(obj).__mro__`` only: asking whether an object is
an XGBoost model must not import XGBoost (slow, and impossible where it is not installed).
Order matters: an ``XGBClassifier`` is also a scikit-learn estimator, yet must be saved in
XGBoost's own format, so the specific libraries are tried before scikit-learn, and the generic
``pyfunc`` flavor (anything with ``predict``, or any callable) comes last.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from cairn.errors import InvalidInput, MissingExtra

#: flavor name -> module defining ``FLAVOR``; imported only when that flavor is used.
FLAVOR_MODULES: dict[str, str] = {
    "xgboost": "cairn.models.flavors.xgboost",
    "lightgbm": "cairn.models.flavors.lightgbm",
    "torch": "cairn.models.flavors.torch",
    "onnx": "cairn.models.flavors.onnx",
    "sklearn": "cairn.models.flavors.sklearn",
    "pyfunc": "cairn.models.flavors.pyfunc",
}

#: top-level module of a class in the object's MRO -> flavor, tried in this order.
DETECT_ORDER: tuple[tuple[str, str], ...] = (
    ("xgboost", "xgboost"),
    ("lightgbm", "lightgbm"),
    ("torch", "torch"),
    ("onnx", "onnx"),
    ("sklearn", "sklearn"),
)

Task = str | None  # "classification" | "regression" | None


@dataclass
class Predictor:
    """A loaded model behind one calling convention, whatever its library."""

    native: Any
    predict: Callable[[Any], Any]
    predict_proba: Callable[[Any], Any] | None = None
    classes: list[Any] | None = None
    task: Task = None


class Flavor:
    """Saving a model object into a folder and loading it back; one subclass per library."""

    name: ClassVar[str]
    module: ClassVar[str]  # the import whose absence makes this flavor unusable
    extra: ClassVar[str]  # the cairn extra that installs it
    packages: ClassVar[tuple[str, ...]]  # distributions whose versions the model records

    def require(self) -> None:
        """Raise ``MissingExtra`` when the flavor's library cannot be imported."""
        try:
            importlib.import_module(self.module)
        except ImportError as exc:
            raise MissingExtra(self.module, self.extra) from exc

    def save(self, model: Any, folder: Path, example: Any | None) -> dict[str, Any]:
        """Write the model's files into ``folder``; return what ``load`` needs to read them."""
        raise NotImplementedError

    def load(self, folder: Path, info: Mapping[str, Any]) -> Predictor:
        raise NotImplementedError

    def task(self, model: Any) -> Task:
        return detect_task(model)

    def uses_pickle(self, info: Mapping[str, Any]) -> bool:
        """Whether loading runs ``pickle`` (which can run arbitrary code)."""
        return False

    def requirements(self, info: Mapping[str, Any]) -> tuple[str, ...]:
        return self.packages


def get_flavor(name: str) -> Flavor:
    module = FLAVOR_MODULES.get(name)
    if module is None:
        known = ", ".join(FLAVOR_MODULES)
        raise InvalidInput(f"unknown model flavor {name!r}; known flavors: {known}")
    flavor = importlib.import_module(module).FLAVOR
    assert isinstance(flavor, Flavor)
    return flavor


def type_roots(obj: Any) -> set[str]:
    """The top-level modules of every class ``obj`` is an instance of."""
    return {cls.__module__.split(".")[0] for cls in type(obj).__mro__}


def detect_flavor(obj: Any) -> str:
    """The flavor name for ``obj``; ``InvalidInput`` when it is not a model cairn can store."""
    roots = type_roots(obj)
    for root, name in DETECT_ORDER:
        if root in roots:
            return name
    if hasattr(obj, "predict") or callable(obj):
        return "pyfunc"
    raise InvalidInput(
        f"cannot store a {type(obj).__name__} as a model: it has no predict method and is not "
        "callable",
        hint="pass an estimator, a PyTorch module, an ONNX model, or any object with predict()",
    )


def detect_task(model: Any) -> Task:
    """Classification or regression, from the estimator itself; None when it cannot tell."""
    if "sklearn" in type_roots(model):
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        if is_regressor(model):
            return "regression"
    kind = getattr(model, "_estimator_type", None)
    if kind == "classifier":
        return "classification"
    if kind == "regressor":
        return "regression"
    if has_method(model, "predict_proba"):
        return "classification"
    return None


def has_method(obj: Any, name: str) -> bool:
    """``hasattr`` that also treats scikit-learn's ``available_if`` refusals as absent."""
    try:
        return callable(getattr(obj, name))
    except AttributeError:
        return False


def to_list(values: Any) -> list[Any] | None:
    if values is None:
        return None
    tolist = getattr(values, "tolist", None)
    return list(tolist()) if callable(tolist) else list(values)


def estimator_predictor(model: Any) -> Predictor:
    """A predictor for any object with scikit-learn's ``predict``/``predict_proba`` methods."""
    proba = model.predict_proba if has_method(model, "predict_proba") else None
    return Predictor(
        native=model,
        predict=model.predict,
        predict_proba=proba,
        classes=to_list(getattr(model, "classes_", None)),
        task=detect_task(model),
    )
