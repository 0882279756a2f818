"""ONNX models, run with onnxruntime on the CPU.

A model with one input gets the whole batch as one tensor; a model with one input per column
(as skl2onnx makes for DataFrames) gets each column as an ``(n, 1)`` tensor. The first output
is the prediction; a second output of probabilities (a tensor, or skl2onnx's list of
``{class: p}`` maps) becomes ``predict_proba``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cairn.errors import Corrupt, InvalidInput
from cairn.models.flavors.base import Flavor, Predictor, Task

MODEL_FILE = "model.onnx"
_DTYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
    "tensor(int32)": "int32", "tensor(bool)": "bool", "tensor(string)": "object",
    "tensor(float16)": "float16", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
}


class OnnxFlavor(Flavor):
    name = "onnx"
    module = "onnxruntime"
    extra = "onnx"
    packages = ("onnx", "onnxruntime", "numpy")

    def save(self, model: Any, folder: Path, example: Any | None) -> dict[str, Any]:
        import onnx

        onnx.save_model(model, str(folder / MODEL_FILE))
        graph = model.graph
        return {"file": MODEL_FILE,
                "inputs": [i.name for i in graph.input],
                "outputs": [o.name for o in graph.output]}

    def load(self, folder: Path, info: Mapping[str, Any]) -> Predictor:
        import onnxruntime

        path = folder / str(info.get("file", MODEL_FILE))
        if not path.is_file():
            raise Corrupt(f"the model file {path.name} is missing from {folder}")
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = [(i.name, _DTYPES.get(i.type, "float32")) for i in session.get_inputs()]
        outputs = session.get_outputs()

        def run(batch: Any) -> list[Any]:
            return list(session.run(None, _feeds(batch, inputs)))

        def predict(batch: Any) -> Any:
            return run(batch)[0]

        proba = None
        if len(outputs) > 1 and ("prob" in outputs[1].name or "map" in outputs[1].type):
            def proba(batch: Any) -> Any:
                return _as_matrix(run(batch)[1])

        task: Task = "classification" if proba is not None else None
        return Predictor(native=session, predict=predict, predict_proba=proba, task=task)


def _feeds(batch: Any, inputs: list[tuple[str, str]]) -> dict[str, Any]:
    import numpy as np

    columns = getattr(batch, "columns", None)
    if len(inputs) == 1:
        name, dtype = inputs[0]
        array = batch.to_numpy() if columns is not None else np.asarray(batch)
        return {name: array.astype(dtype, copy=False)}
    if columns is None:
        names = ", ".join(n for n, _ in inputs)
        raise InvalidInput(f"this ONNX model takes named inputs ({names}); send named columns")
    feeds = {}
    for name, dtype in inputs:
        if name not in columns:
            raise InvalidInput(f"missing column {name!r} for the ONNX model")
        feeds[name] = batch[name].to_numpy().astype(dtype, copy=False).reshape(-1, 1)
    return feeds


def _as_matrix(values: Any) -> Any:
    import numpy as np

    if isinstance(values, list) and values and isinstance(values[0], dict):
        keys = sorted(values[0])
        return np.asarray([[row[k] for k in keys] for row in values], dtype=float)
    return np.asarray(values)


FLAVOR = OnnxFlavor()
