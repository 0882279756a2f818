"""The generic flavor: any object with ``predict``, or any callable, stored with (cloud)pickle.

cloudpickle is preferred because it stores functions and classes defined in a script's
``__main__`` by value, so the model loads in another process; plain pickle is the fallback.
Either way, loading runs code: ``loading`` warns when such a model came from someone else.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import Corrupt, MissingExtra
from cairn.models.flavors.base import Flavor, Predictor, estimator_predictor, has_method

PICKLE_FILE = "model.pkl"


def dump_pickle(obj: Any, path: Path) -> str:
    """Pickle ``obj`` to ``path``; return the serializer used ("cloudpickle" or "pickle")."""
    try:
        import cloudpickle
    except ImportError:
        with open(path, "wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return "pickle"
    with open(path, "wb") as fh:
        cloudpickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return "cloudpickle"


def load_pickle(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            return pickle.load(fh)
    except FileNotFoundError as exc:
        raise Corrupt(f"the model file {path.name} is missing from {path.parent}") from exc
    except ModuleNotFoundError as exc:
        name = (exc.name or "").split(".")[0]
        if name == "cloudpickle":
            raise MissingExtra("cloudpickle", "serve") from exc
        raise MissingExtra(name or str(exc), name or "all") from exc
    except (pickle.UnpicklingError, EOFError, AttributeError) as exc:
        raise Corrupt(f"the model file {path} cannot be unpickled: {exc}") from exc


class PyfuncFlavor(Flavor):
    name = "pyfunc"
    module = "pickle"
    extra = "serve"
    packages = ()

    def save(self, model: Any, folder: Path, example: Any | None) -> dict[str, Any]:
        serializer = dump_pickle(model, folder / PICKLE_FILE)
        return {"file": PICKLE_FILE, "format": serializer,
                "call": "predict" if has_method(model, "predict") else "call"}

    def load(self, folder: Path, info: Mapping[str, Any]) -> Predictor:
        obj = load_pickle(folder / str(info.get("file", PICKLE_FILE)))
        if has_method(obj, "predict"):
            return estimator_predictor(obj)
        if not callable(obj):
            raise Corrupt(f"the model in {folder} is neither callable nor has predict()")
        return Predictor(native=obj, predict=obj)

    def uses_pickle(self, info: Mapping[str, Any]) -> bool:
        return True

    def requirements(self, info: Mapping[str, Any]) -> tuple[str, ...]:
        return ("cloudpickle",) if info.get("format") == "cloudpickle" else ()


FLAVOR = PyfuncFlavor()
