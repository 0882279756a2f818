"""scikit-learn estimators and pipelines, stored with skops where possible.

skops files describe the objects they rebuild, so loading one runs no arbitrary code. Types
from scikit-learn, NumPy and SciPy are trusted automatically; a model holding any other type
(a custom transformer, say) cannot be loaded by skops without trusting it by hand, so it is
stored with pickle instead, and the model records why.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import Corrupt, PermissionDenied
from cairn.models.flavors.base import Flavor, Predictor, estimator_predictor
from cairn.models.flavors.pyfunc import dump_pickle, load_pickle

AUTO_TRUSTED = ("sklearn", "numpy", "scipy")
SKOPS_FILE = "model.skops"
PICKLE_FILE = "model.pkl"


def auto_trusted(type_name: str) -> bool:
    return type_name.split(".")[0] in AUTO_TRUSTED


def _untrusted(path: Path) -> list[str]:
    import skops.io as sio

    return [t for t in sio.get_untrusted_types(file=path) if not auto_trusted(t)]


class SklearnFlavor(Flavor):
    name = "sklearn"
    module = "sklearn"
    extra = "sklearn"
    packages = ("scikit-learn", "numpy", "scipy")

    def save(self, model: Any, folder: Path, example: Any | None) -> dict[str, Any]:
        reason = _save_skops(model, folder / SKOPS_FILE)
        if reason is None:
            return {"file": SKOPS_FILE, "format": "skops"}
        serializer = dump_pickle(model, folder / PICKLE_FILE)
        return {"file": PICKLE_FILE, "format": serializer, "pickle_reason": reason}

    def load(self, folder: Path, info: Mapping[str, Any]) -> Predictor:
        path = folder / str(info.get("file", SKOPS_FILE))
        if info.get("format") == "skops":
            return estimator_predictor(_load_skops(path))
        return estimator_predictor(load_pickle(path))

    def uses_pickle(self, info: Mapping[str, Any]) -> bool:
        return info.get("format") != "skops"

    def requirements(self, info: Mapping[str, Any]) -> tuple[str, ...]:
        if info.get("format") == "skops":
            return (*self.packages, "skops")
        if info.get("format") == "cloudpickle":
            return (*self.packages, "cloudpickle")
        return self.packages


def _save_skops(model: Any, path: Path) -> str | None:
    """Save with skops; the reason it could not be used, or None when it was."""
    try:
        import skops.io as sio
    except ImportError:
        return "skops is not installed"
    try:
        sio.dump(model, path)
        untrusted = _untrusted(path)
    except Exception as exc:  # skops raises many kinds for types it cannot describe
        path.unlink(missing_ok=True)
        return f"skops cannot store it ({type(exc).__name__}: {exc})"
    if untrusted:
        path.unlink(missing_ok=True)
        return "it holds types that skops would not load without trust: " + ", ".join(untrusted)
    return None


def _load_skops(path: Path) -> Any:
    try:
        import skops.io as sio
    except ImportError as exc:
        from cairn.errors import MissingExtra

        raise MissingExtra("skops", "serve") from exc
    try:
        found = sio.get_untrusted_types(file=path)
    except FileNotFoundError as exc:
        raise Corrupt(f"the model file {path.name} is missing from {path.parent}") from exc
    refused = [t for t in found if not auto_trusted(t)]
    if refused:
        raise PermissionDenied(
            f"the model file {path} holds types cairn does not trust: {', '.join(refused)}",
            hint="only scikit-learn, NumPy and SciPy types are loaded from skops files",
        )
    return sio.load(path, trusted=found)


FLAVOR = SklearnFlavor()
