"""A model's input signature: what a request must look like, checked before the model runs.

Two kinds, inferred from the example given to ``log_model``:

- ``columns``: named, typed columns (a DataFrame, records, a dict of lists). Requests may send
  records (``[{"age": 31, …}]``), rows in column order, or a DataFrame; ``validate`` answers a
  DataFrame with the columns in the model's order.
- ``tensor``: an array's shape (``-1`` for the batch) and dtype. Requests send nested lists or
  arrays; ``validate`` answers an array of that dtype.

A request that does not fit raises ``InvalidInput`` with one sentence naming the field, which
the prediction server turns into a 4xx answer. Ints are accepted where floats are expected
(JSON cannot tell ``1`` from ``1.0``), and floats where ints are, as floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cairn.errors import InvalidInput

Kind = Literal["columns", "tensor"]
NUMERIC_KINDS = "iuf"


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    dtype: str  # a NumPy dtype name ("float64", "int64", "bool"), "string", "category", "datetime"

    @property
    def is_numeric(self) -> bool:
        return self.dtype.startswith(("float", "int", "uint"))


@dataclass(frozen=True)
class Signature:
    kind: Kind
    columns: tuple[ColumnSpec, ...] = ()
    shape: tuple[int, ...] = ()
    dtype: str | None = None

    @property
    def feature_names(self) -> list[str]:
        """Column names; for a 2-D tensor, the column positions as strings ("0", "1", …)."""
        if self.kind == "columns":
            return [c.name for c in self.columns]
        if len(self.shape) == 2 and self.shape[1] > 0:
            return [str(i) for i in range(self.shape[1])]
        return []

    def to_json(self) -> dict[str, Any]:
        if self.kind == "columns":
            return {"type": "columns",
                    "columns": [{"name": c.name, "dtype": c.dtype} for c in self.columns]}
        return {"type": "tensor", "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Signature:
        try:
            if data["type"] == "columns":
                cols = tuple(ColumnSpec(str(c["name"]), str(c["dtype"])) for c in data["columns"])
                return cls("columns", columns=cols)
            if data["type"] == "tensor":
                return cls("tensor", shape=tuple(int(n) for n in data["shape"]),
                           dtype=str(data["dtype"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"not a model signature: {exc}") from exc
        raise InvalidInput(f"unknown signature type {data.get('type')!r}")

    def describe(self) -> str:
        if self.kind == "columns":
            return ", ".join(f"{c.name}: {c.dtype}" for c in self.columns)
        dims = " x ".join("N" if n < 0 else str(n) for n in self.shape)
        return f"{self.dtype} tensor [{dims}]"

    def validate(self, inputs: Any) -> Any:
        """``inputs`` checked and converted; ``InvalidInput`` naming the first bad field."""
        if self.kind == "columns":
            return _validate_columns(self.columns, inputs)
        return _validate_tensor(self.shape, self.dtype or "float64", inputs)


# -- inference --------------------------------------------------------------------------------
def infer_signature(example: Any) -> Signature:
    """The signature of an input example: a DataFrame, records, a dict of lists, an array."""
    import numpy as np

    frame = as_frame_or_none(example)
    if frame is not None:
        return Signature("columns", columns=tuple(
            ColumnSpec(str(name), _column_dtype(frame[name])) for name in frame.columns
        ))
    array = as_array(example)
    if array.ndim == 0:
        raise InvalidInput("the example must hold at least one row, not a single value")
    dtype = array.dtype
    if dtype.kind not in NUMERIC_KINDS + "b":
        dtype = np.dtype(object) if dtype.kind in "OUS" else dtype
    return Signature("tensor", shape=(-1, *array.shape[1:]), dtype=dtype.name)


def as_frame_or_none(data: Any) -> Any:
    """A DataFrame for tabular data with names; None for plain arrays and nested lists."""
    kind = type(data).__module__.split(".")[0]
    if kind == "pandas":
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            return data
        if isinstance(data, pd.Series):
            return data.to_frame(name=str(data.name) if data.name is not None else "0")
    if isinstance(data, Mapping):
        import pandas as pd

        values = dict(data)
        if values and all(isinstance(v, str) or not hasattr(v, "__len__")
                          for v in values.values()):
            return pd.DataFrame([values])
        return pd.DataFrame(values)
    if isinstance(data, (list, tuple)) and data and all(isinstance(r, Mapping) for r in data):
        import pandas as pd

        return pd.DataFrame(list(data))
    return None


def as_array(data: Any) -> Any:
    import numpy as np

    if "torch" in type(data).__module__.split(".")[0]:
        data = data.detach().cpu().numpy()
    try:
        return np.asarray(data)
    except ValueError as exc:  # ragged nested lists
        raise InvalidInput(f"the example is not a rectangular array: {exc}") from exc


def _column_dtype(series: Any) -> str:
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        return str(dtype.name).lower()
    return "string"


# -- validation -------------------------------------------------------------------------------
def _validate_columns(columns: tuple[ColumnSpec, ...], inputs: Any) -> Any:
    import numpy as np
    import pandas as pd

    names = [c.name for c in columns]
    numeric = all(c.is_numeric for c in columns)
    if numeric and isinstance(inputs, list) and inputs and all(
            isinstance(r, dict) and len(r) == len(names) for r in inputs):
        try:  # records with exactly the right keys: the fast numeric path below
            inputs = [[r[n] for n in names] for r in inputs]
        except KeyError:
            pass  # the general path names the unknown or missing column
    frame = as_frame_or_none(inputs)
    if frame is None:
        rows = _as_rows(inputs)
        if numeric:
            try:
                array = np.asarray(rows, dtype="float64")
            except (ValueError, TypeError):
                array = None
            if array is not None and array.ndim == 2 and array.shape[1] == len(columns):
                frame = pd.DataFrame(array, columns=names)
                recast = {c.name: target for i, c in enumerate(columns)
                          if (target := _numeric_target(c, array[:, i])) != "float64"}
                return frame.astype(recast) if recast else frame
        for i, row in enumerate(rows):
            if not isinstance(row, (list, tuple)) or len(row) != len(columns):
                got = len(row) if isinstance(row, (list, tuple)) else 1
                raise InvalidInput(
                    f"row {i} has {got} value{'s' if got != 1 else ''}; the model expects "
                    f"{len(columns)} columns ({', '.join(names)})"
                )
        frame = pd.DataFrame(list(rows), columns=names)
    given = [str(c) for c in frame.columns]
    unknown = [c for c in given if c not in names]
    if unknown:
        raise InvalidInput(f"unknown column {unknown[0]!r}; the model expects "
                           f"{', '.join(names)}")
    missing = [c for c in names if c not in given]
    if missing:
        raise InvalidInput(f"missing column {missing[0]!r}; the model expects "
                           f"{', '.join(names)}")
    frame = frame.rename(columns=str)
    return pd.DataFrame({c.name: _convert_column(c, frame[c.name]) for c in columns},
                        index=range(len(frame)))


def _as_rows(inputs: Any) -> Sequence[Any]:
    to_list = getattr(inputs, "tolist", None)
    rows = to_list() if callable(to_list) else inputs
    if not isinstance(rows, (list, tuple)):
        raise InvalidInput(f"inputs must be a list of rows or records, not {type(rows).__name__}")
    if not rows:
        raise InvalidInput("inputs are empty; send at least one row")
    if not isinstance(rows[0], (list, tuple, Mapping)):
        return [rows]  # one row given flat
    return list(rows)


def _numeric_target(column: ColumnSpec, values: Any) -> str:
    import numpy as np

    if column.dtype.startswith(("int", "uint")):
        finite = np.isfinite(values).all()
        return column.dtype if finite and (values == np.round(values)).all() else "float64"
    return column.dtype


def _convert_column(column: ColumnSpec, series: Any) -> Any:
    import pandas as pd

    if column.is_numeric:
        if series.dtype.kind in NUMERIC_KINDS:
            values = series
        else:
            values = pd.to_numeric(series, errors="coerce")
            bad = values.isna() & series.notna()
            if bad.any():
                row = int(bad.to_numpy().argmax())
                raise InvalidInput(
                    f"column {column.name!r} must be numeric ({column.dtype}); "
                    f"row {row} has {series.iloc[row]!r}"
                )
        return values.astype(_numeric_target(column, values.to_numpy(dtype="float64")))
    if column.dtype == "bool":
        mapping: dict[Any, bool] = {True: True, False: False, "true": True, "false": False}
        out = series.map(lambda v: mapping.get(v.lower() if isinstance(v, str) else v, v))
        bad = ~out.map(lambda v: isinstance(v, bool))
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise InvalidInput(f"column {column.name!r} must be true or false; row {row} has "
                               f"{series.iloc[row]!r}")
        return out.astype(bool)
    if column.dtype == "datetime":
        try:
            return pd.to_datetime(series)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"column {column.name!r} must hold dates: {exc}") from exc
    for row, value in enumerate(series):
        if isinstance(value, (list, dict)):
            raise InvalidInput(f"column {column.name!r} must hold single values; row {row} "
                               f"has a {type(value).__name__}")
    return series.map(lambda v: v if v is None or isinstance(v, str) else str(v)).astype(object)


def _validate_tensor(shape: tuple[int, ...], dtype: str, inputs: Any) -> Any:
    import numpy as np

    rows = inputs
    columns = getattr(inputs, "columns", None)
    if columns is not None:
        rows = inputs.to_numpy()
    if isinstance(rows, (list, tuple)):
        if not rows:
            raise InvalidInput("inputs are empty; send at least one row")
        if any(isinstance(r, Mapping) for r in rows):
            raise InvalidInput("this model takes rows of values, not records with names")
        if len(shape) >= 2 and not isinstance(rows[0], (list, tuple)):
            rows = [rows]  # one row given flat
        _check_ragged(rows, shape)
    want = np.dtype(dtype)
    try:
        array = np.asarray(rows)
    except ValueError as exc:
        raise InvalidInput(f"inputs are not a rectangular array: {exc}") from exc
    if array.ndim == len(shape) - 1 and len(shape) >= 2:
        array = array.reshape(1, *array.shape)
    expected = tuple(shape[1:])
    if array.ndim != len(shape) or any(e >= 0 and g != e for g, e in zip(
            array.shape[1:], expected, strict=True)):
        dims = " x ".join("N" if n < 0 else str(n) for n in shape)
        raise InvalidInput(f"inputs have shape {list(array.shape)}; the model expects [{dims}]")
    if want.kind in NUMERIC_KINDS and array.dtype.kind not in NUMERIC_KINDS + "b":
        _raise_non_numeric(array, want)
    try:
        return array.astype(want, copy=False)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"inputs cannot be read as {want.name}: {exc}") from exc


def _check_ragged(rows: Sequence[Any], shape: tuple[int, ...]) -> None:
    if len(shape) != 2:
        return
    width = shape[1]
    for i, row in enumerate(rows):
        got = len(row) if isinstance(row, (list, tuple)) else 1
        if width >= 0 and got != width:
            raise InvalidInput(f"row {i} has {got} value{'s' if got != 1 else ''}; the model "
                               f"expects {width}")


def _raise_non_numeric(array: Any, want: Any) -> None:
    import numpy as np

    for index, value in enumerate(array.reshape(-1).tolist()):  # tolist: plain Python values
        try:
            float(value)
        except (TypeError, ValueError):
            where = np.unravel_index(index, array.shape)
            place = f"row {where[0]}" + (f", column {where[1]}" if len(where) > 1 else "")
            raise InvalidInput(
                f"inputs must be numeric ({want.name}); {place} has {value!r}"
            ) from None
