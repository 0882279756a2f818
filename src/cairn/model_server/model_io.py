"""Checked rows in, plain JSON values out: the one place the server touches the model.

Rows arrive already checked against the signature (``protocols``), so the model's own
``signature.validate`` (a pandas round trip of about 0.7 ms) is skipped where the conversion
is plain: a tensor becomes one NumPy array, and a table of numeric columns becomes a
DataFrame built from one array. Tables with text, categorical or date columns go through the
signature's conversion, which knows their dtypes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cairn._util.jsonsafe import clean
from cairn.errors import CairnError, SchemaMismatch
from cairn.model_server.protocols import NUMBER, Column, InputSpec
from cairn.models.loading import to_rows

if TYPE_CHECKING:
    from cairn.models.loading import LoadedModel


def input_spec(signature: Mapping[str, Any] | None) -> InputSpec | None:
    """The row spec of a signature's JSON; None when requests cannot be read as rows."""
    if not signature:
        return None
    if signature.get("type") == "columns":
        cols = tuple(Column(str(c["name"]), _kind(str(c["dtype"])))
                     for c in signature.get("columns") or [])
        return InputSpec(cols, named=True) if cols else None
    shape = signature.get("shape") or []
    if signature.get("type") == "tensor" and len(shape) == 2 and int(shape[1]) > 0:
        kind = _kind(str(signature.get("dtype") or "float64"))
        return InputSpec(tuple(Column(str(i), kind) for i in range(int(shape[1]))), named=False)
    return None


def _kind(dtype: str) -> str:
    if dtype.startswith(("float", "int", "uint")):
        return NUMBER  # JSON cannot tell 1 from 1.0; the signature takes either
    if dtype == "bool":
        return "bool"
    return "any"


class ModelRunner:
    """Calls one loaded model on checked rows."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        sig = model.signature
        self.signature = sig.to_json() if sig is not None else None
        self.spec = input_spec(self.signature)
        self.dtype = str((self.signature or {}).get("dtype") or "float64")
        self.numeric_table = bool(self.spec and self.spec.named and all(
            c.kind == NUMBER for c in self.spec.columns))
        self._int_columns = [c["name"] for c in (self.signature or {}).get("columns") or []
                             if str(c["dtype"]).startswith(("int", "uint"))]
        self.has_proba = _has_proba(model)
        self.array_path = False  # a numeric table given to the model as an array (fastpath)

    def warm_up(self, example: Any) -> list[Any] | None:
        """Score the logged example once, so the first request pays no lazy setup, and try
        the array path on it (see ``fastpath``); answers the example's predictions."""
        from cairn.model_server.fastpath import try_array_path
        from cairn.model_server.protocols import read_rows

        if self.spec is None or not example:
            return None
        rows = read_rows(example, self.spec, "example").rows
        if self.numeric_table:
            import numpy as np

            scorers = [self.model.native.predict]
            if self.has_proba:
                scorers.append(self.model.native.predict_proba)
            self.array_path = try_array_path(self.model.native, self.spec.names,
                                             self.model_input(rows),
                                             np.asarray(rows, dtype="float64"), scorers)
        return self.predict(rows)

    # -- inputs ---------------------------------------------------------------------------------
    def model_input(self, rows: list[list[Any]]) -> Any:
        import numpy as np

        spec = self.spec
        if spec is None:
            return self.model.prepare(rows)
        if not spec.named:
            return np.asarray(rows, dtype=self.dtype)
        if self.array_path:
            return np.asarray(rows, dtype="float64")
        if self.numeric_table:
            import pandas as pd

            array = np.asarray(rows, dtype="float64")
            frame = pd.DataFrame(array, columns=spec.names)
            if self._int_columns:
                whole = {n: "int64" for n in self._int_columns
                         if np.isfinite(frame[n]).all() and (frame[n] % 1 == 0).all()}
                if whole:
                    frame = frame.astype(whole)
            return frame
        return self.model.prepare([dict(zip(spec.names, row, strict=True)) for row in rows])

    def logged_inputs(self, rows: list[list[Any]]) -> list[Any]:
        """Rows as the log keeps them: records when columns have names, else lists of values."""
        spec = self.spec
        if spec is None or not spec.named:
            return rows
        names = spec.names
        return [dict(zip(names, row, strict=True)) for row in rows]

    # -- calling the model ----------------------------------------------------------------------
    def predict(self, rows: list[list[Any]]) -> list[Any]:
        x = self.model_input(rows)
        try:
            out = self.model.predict(x, validate=False)
        except CairnError:
            raise
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise SchemaMismatch(f"the model could not score these inputs: {exc}") from exc
        return to_rows(out, len(rows))

    def predict_proba(self, rows: list[list[Any]]) -> list[Any]:
        x = self.model_input(rows)
        try:
            out = self.model.predict_proba(x, validate=False)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise SchemaMismatch(f"the model could not score these inputs: {exc}") from exc
        return to_rows(out, len(rows))


def _has_proba(model: LoadedModel) -> bool:
    try:
        model.predict_proba  # noqa: B018 - the property raises when there is none
    except AttributeError:
        return False
    return True


def dumps(value: Any) -> str:
    """Strict JSON text, always: NaN and infinities are written as every face writes them
    (``_util.jsonsafe``), and values JSON cannot hold become their text."""
    try:
        return json.dumps(value, allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(clean(value), default=str, allow_nan=False)
