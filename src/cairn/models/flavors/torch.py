"""PyTorch modules: TorchScript when the module scripts or traces, else a state dict.

TorchScript rebuilds the module without its Python class, so the model loads anywhere torch
does. A module that neither scripts nor traces (with the example) is stored as its state dict
plus the import path of its class; loading imports that class, builds it with no arguments and
loads the weights (``weights_only``, so no pickle code runs). Inference runs on the CPU under
``torch.no_grad`` and answers NumPy arrays.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cairn.errors import Corrupt, InvalidInput
from cairn.models.flavors.base import Flavor, Predictor, Task

SCRIPT_FILE = "model.pt"
STATE_FILE = "state_dict.pt"


@contextmanager
def _quiet_jit() -> Iterator[None]:
    """TorchScript still works but warns that it is deprecated on every call."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        yield


def _tensor(example: Any, dtype: str | None = None) -> Any:
    import numpy as np
    import torch

    if isinstance(example, torch.Tensor):
        return example
    to_numpy = getattr(example, "to_numpy", None)
    array = to_numpy() if callable(to_numpy) else np.asarray(example)
    if array.dtype.kind == "f" or dtype is not None:
        array = array.astype(dtype or "float32")
    return torch.as_tensor(array)


def _script(model: Any, example: Any | None) -> tuple[Any | None, str]:
    """A TorchScript module, or None and why not."""
    import torch

    if isinstance(model, torch.jit.ScriptModule):
        return model, ""
    with _quiet_jit():
        try:
            return torch.jit.script(model), ""
        except Exception as exc:
            reason = f"scripting failed ({type(exc).__name__})"
        if example is None:
            return None, reason + "; give example= to trace it instead"
        try:
            sample = _tensor(example).to(_device(model))  # a GPU module traces on its device
            return torch.jit.trace(model, sample), ""  # type: ignore[no-untyped-call]
        except Exception as exc:
            return None, f"{reason}; tracing failed ({type(exc).__name__}: {exc})"


def _device(model: Any) -> Any:
    import torch

    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


class TorchFlavor(Flavor):
    name = "torch"
    module = "torch"
    extra = "torch"
    packages = ("torch", "numpy")

    def save(self, model: Any, folder: Path, example: Any | None) -> dict[str, Any]:
        import torch

        dtype = str(_tensor(example).dtype).removeprefix("torch.") if example is not None \
            else "float32"
        scripted, reason = _script(model, example)
        if scripted is not None:
            with _quiet_jit():
                torch.jit.save(scripted, str(folder / SCRIPT_FILE))
            return {"file": SCRIPT_FILE, "format": "torchscript", "input_dtype": dtype}
        cls = type(model)
        if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
            raise InvalidInput(
                f"cannot store this PyTorch module: {reason}, and its class "
                f"{cls.__qualname__} is not importable, so it could not be rebuilt from a "
                "state dict",
                hint="move the class into an importable module, or make it scriptable",
            )
        torch.save(model.state_dict(), str(folder / STATE_FILE))
        return {"file": STATE_FILE, "format": "state_dict", "input_dtype": dtype,
                "loader": f"{cls.__module__}:{cls.__qualname__}", "script_error": reason}

    def load(self, folder: Path, info: Mapping[str, Any]) -> Predictor:
        import torch

        path = folder / str(info.get("file", SCRIPT_FILE))
        if not path.is_file():
            raise Corrupt(f"the model file {path.name} is missing from {folder}")
        if info.get("format") == "torchscript":
            with _quiet_jit():
                module = torch.jit.load(  # type: ignore[no-untyped-call]
                    str(path), map_location="cpu")
        else:
            module = _build(str(info.get("loader", "")))
            module.load_state_dict(torch.load(str(path), map_location="cpu", weights_only=True))
        module.eval()
        dtype = str(info.get("input_dtype") or "float32")

        def predict(inputs: Any) -> Any:
            with torch.no_grad():
                out = module(_tensor(inputs, dtype))
            return out.numpy() if isinstance(out, torch.Tensor) else out

        return Predictor(native=module, predict=predict)

    def task(self, model: Any) -> Task:
        return None


def _build(loader: str) -> Any:
    module_name, _, qualname = loader.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(
            f"cannot rebuild the PyTorch module: its class {loader!r} cannot be imported here",
            hint="install or put on PYTHONPATH the code that defines it",
        ) from exc
    try:
        return target()
    except TypeError as exc:
        raise InvalidInput(f"cannot rebuild the PyTorch module {loader!r} with no arguments: "
                           f"{exc}") from exc


FLAVOR = TorchFlavor()
