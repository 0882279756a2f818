"""Request bodies of the three prediction protocols, read into one checked shape: ``Batch``.

- cairn's ``POST /predict``: ``{"inputs": rows}``, rows as lists or records.
- MLflow's ``POST /invocations``: ``dataframe_split``, ``dataframe_records``, ``instances``,
  ``inputs`` (rows, records or a dict of columns) and ``text/csv`` with a header row.
- The Open Inference Protocol v2 ``POST /v2/models/{name}/infer``: one tensor of shape
  ``[n, k]``, or one tensor per named column of shape ``[n]`` or ``[n, 1]``.

Every value is checked against the model's input spec (read from its signature), so a wrong
column, width or type is refused with a message naming it (HTTP 422) before the model sees it,
and a malformed body gets 400. Parsing is plain Python over lists: a single row costs a few
microseconds.

A request may cost the server no more than its size warrants: bodies must say they are JSON
(or CSV, for MLflow), because a browser lets any web page post ``text/plain`` or an untyped
body to any address without asking; a tensor's shape must agree with its data and have no
empty dimension (``[2000000, 0]`` with no data would otherwise be two million empty rows to
score, answer and log); and a request holds at most ``max_rows`` rows (413 beyond), counted
before any row is checked.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cairn.errors import InvalidInput, SchemaMismatch, TooLarge, UnsupportedMediaType

NUMBER, INTEGER, STRING, BOOL, ANY = "number", "integer", "string", "bool", "any"

DEFAULT_MAX_ROWS = 10_000
JSON = "application/json"
CSV_TYPES = ("text/csv", "application/csv")


def check_rows(count: int, max_rows: int | None, field: str) -> None:
    """Refuse a request of more than ``max_rows`` rows before any of them is checked."""
    if max_rows is not None and count > max_rows:
        raise TooLarge(f"{field} has {count:,} rows; this server takes at most "
                              f"{max_rows:,} per request")


def media_type(content_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` -> ``"application/json"``; "" when absent."""
    return (content_type or "").split(";")[0].strip().lower()


def require_json(content_type: str | None) -> None:
    """Refuse a body not declared as JSON: a web page can make a browser post ``text/plain``
    (or a body with no type) to any server without the browser asking it first, but not
    ``application/json``, so this keeps other sites from writing predictions and labels."""
    kind = media_type(content_type)
    if kind != JSON:
        said = f"says {kind!r}" if kind else "is missing"
        raise UnsupportedMediaType(f"send the body as {JSON}: its Content-Type {said}")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # number | integer | string | bool | any


@dataclass(frozen=True)
class InputSpec:
    """What one row must hold: named columns (a table) or ``width`` unnamed values (a tensor)."""

    columns: tuple[Column, ...]
    named: bool  # True when the model takes a table with these column names

    @property
    def width(self) -> int:
        return len(self.columns)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def describe(self) -> str:
        names = ", ".join(self.names[:6]) + (", …" if self.width > 6 else "")
        return f"{self.width} values ({names})"


@dataclass(frozen=True)
class Batch:
    """Checked rows in the spec's column order."""

    rows: list[list[Any]]

    def __len__(self) -> int:
        return len(self.rows)


def load_json(raw: bytes) -> Any:
    if not raw.strip():
        raise InvalidInput("the request body is empty; send JSON")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the request body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("the request body nests too deeply") from exc


# -- /predict ---------------------------------------------------------------------------------
def parse_predict(body: Any, spec: InputSpec | None, *,
                  max_rows: int | None = DEFAULT_MAX_ROWS) -> Batch:
    """The rows of a ``/predict`` body, checked against ``spec`` when the model has one."""
    if not isinstance(body, dict) or "inputs" not in body:
        raise InvalidInput('send {"inputs": [[...], ...]}: a list of rows or records')
    if spec is None:
        return raw_rows(body["inputs"], "inputs", max_rows)
    return read_rows(body["inputs"], spec, "inputs", max_rows=max_rows)


def read_rows(data: Any, spec: InputSpec, field: str, *, max_rows: int | None = None) -> Batch:
    """Rows as lists, records, a dict of columns, or one flat row; checked against ``spec``."""
    if isinstance(data, dict):
        if data and all(isinstance(v, list) for v in data.values()):
            return _from_columns(data, spec, field, max_rows)
        return Batch([check_record(data, spec, 0)])
    if not isinstance(data, list):
        raise InvalidInput(f"{field} must be a list of rows or records")
    if not data:
        raise InvalidInput(f"{field} is empty: send at least one row")
    check_rows(len(data), max_rows, field)
    first = data[0]
    if not isinstance(first, (list, dict)):
        if len(data) == spec.width and spec.width > 1:  # one flat row, as curl users type it
            return Batch([check_row(data, spec, 0)])
        raise SchemaMismatch(f"{field} must be a list of rows, e.g. [[...]]; the model takes "
                             f"rows of {spec.describe()}")
    rows = []
    for i, row in enumerate(data):
        if isinstance(row, list):
            rows.append(check_row(row, spec, i))
        elif isinstance(row, dict):
            rows.append(check_record(row, spec, i))
        else:
            raise SchemaMismatch(f"{field}[{i}] is not a row (a list) or a record (an object)")
    return Batch(rows)


def check_row(row: Sequence[Any], spec: InputSpec, index: int) -> list[Any]:
    if len(row) != spec.width:
        raise SchemaMismatch(f"row {index} has {len(row)} values; the model takes "
                             f"{spec.describe()}")
    return [check_value(v, col, index) for v, col in zip(row, spec.columns, strict=True)]


def check_record(record: Mapping[str, Any], spec: InputSpec, index: int) -> list[Any]:
    if not spec.named and not all(c.name in record for c in spec.columns):
        raise SchemaMismatch(f"row {index} is a record but the model takes rows of "
                             f"{spec.width} unnamed values; send a list per row")
    out = []
    for col in spec.columns:
        if col.name not in record:
            raise SchemaMismatch(f"row {index} lacks the column {col.name!r}")
        out.append(check_value(record[col.name], col, index))
    if len(record) > spec.width:
        extra = sorted(set(record) - set(spec.names))
        raise SchemaMismatch(f"row {index} has the unknown column {extra[0]!r}; the model "
                             f"takes {spec.describe()}")
    return out


def check_value(value: Any, col: Column, index: int) -> Any:
    kind = col.kind
    t = type(value)
    if kind == NUMBER:
        if t is float or t is int:
            return value
        if value is None:
            return math.nan
    elif kind == INTEGER:
        if t is int:
            return value
        if t is float and value.is_integer():
            return int(value)
    elif kind == STRING:
        if t is str or value is None:
            return value
    elif kind == BOOL:
        if t is bool:
            return value
    elif kind == ANY and (value is None or t in (str, int, float, bool)):
        return value
    expected = {NUMBER: "a number", INTEGER: "an integer", STRING: "text", BOOL: "true or false",
                ANY: "a number, text or boolean"}[kind]
    raise SchemaMismatch(f"column {col.name!r} expects {expected}, got {json.dumps(value)} "
                         f"(row {index})")


def _from_columns(data: Mapping[str, list[Any]], spec: InputSpec, field: str,
                  max_rows: int | None) -> Batch:
    for name in data:
        if name not in spec.names:
            raise SchemaMismatch(f"{field} has the unknown column {name!r}; the model takes "
                                 f"{spec.describe()}")
    lengths = {len(v) for v in data.values()}
    if len(lengths) != 1:
        raise SchemaMismatch(f"the columns of {field} have different lengths")
    n = lengths.pop()
    check_rows(n, max_rows, field)
    for col in spec.columns:
        if col.name not in data:
            raise SchemaMismatch(f"{field} lacks the column {col.name!r}")
    rows = [[check_value(data[c.name][i], c, i) for c in spec.columns] for i in range(n)]
    if not rows:
        raise InvalidInput(f"{field} is empty: send at least one row")
    return Batch(rows)


# -- MLflow /invocations ------------------------------------------------------------------------
MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def invocation_media(content_type: str | None, spec: InputSpec | None) -> str:
    """``application/json``, or a CSV type for a model taking a table; anything else is
    refused (415), before the body is read."""
    kind = media_type(content_type)
    if kind == JSON or (kind in CSV_TYPES and spec is not None):
        return kind
    said = f"content type {kind!r}" if kind else "a body without a Content-Type"
    accepted = JSON + (" or text/csv" if spec is not None else "")
    raise UnsupportedMediaType(f"unsupported {said}; send {accepted}")


def parse_invocations(content_type: str | None, raw: bytes, spec: InputSpec | None, *,
                      max_rows: int | None = DEFAULT_MAX_ROWS) -> Batch:
    """An MLflow scoring request; ``spec`` None (a model whose input is not a table) takes the
    rows of any of the JSON keys as they are."""
    if invocation_media(content_type, spec) != JSON:
        assert spec is not None
        return parse_csv(raw, spec, max_rows=max_rows)
    body = load_json(raw)
    if spec is None:
        return _raw_invocation(body, max_rows)
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object with one of: " + ", ".join(MLFLOW_KEYS))
    found = [k for k in MLFLOW_KEYS if k in body]
    if len(found) != 1:
        raise InvalidInput("send exactly one of " + ", ".join(MLFLOW_KEYS) +
                           (f"; got {', '.join(found)}" if found else ""))
    if body.get("params"):
        raise InvalidInput("params are not supported by this model server")
    key = found[0]
    data = body[key]
    if key == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise InvalidInput('dataframe_split must be {"columns": [...], "data": [[...]]}')
        columns = data.get("columns")
        if columns is None:
            return read_rows(data["data"], spec, "dataframe_split.data", max_rows=max_rows)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            raise InvalidInput("dataframe_split.columns must be a list of column names")
        check_rows(len(data["data"]), max_rows, "dataframe_split.data")
        records = []
        for i, row in enumerate(data["data"]):
            if not isinstance(row, list) or len(row) != len(columns):
                raise SchemaMismatch(f"dataframe_split.data[{i}] must hold {len(columns)} "
                                     "values, one per column")
            records.append(dict(zip(columns, row, strict=True)))
        return read_rows(records, spec, "dataframe_split.data", max_rows=max_rows)
    if key == "dataframe_records" and not (isinstance(data, list)
                                           and all(isinstance(r, dict) for r in data)):
        raise InvalidInput("dataframe_records must be a list of records (objects)")
    return read_rows(data, spec, key, max_rows=max_rows)


def _raw_invocation(body: Any, max_rows: int | None) -> Batch:
    """The rows under the first MLflow key, unchecked: the model's input is not a table."""
    key = next((k for k in MLFLOW_KEYS if isinstance(body, dict) and k in body), None)
    if key is None:
        raise InvalidInput("send one of " + ", ".join(MLFLOW_KEYS))
    return raw_rows(body[key], key, max_rows)


def raw_rows(data: Any, field: str, max_rows: int | None) -> Batch:
    """Rows for a model without a table signature: any non-empty list, capped in length."""
    if not isinstance(data, list) or not data:
        raise InvalidInput(f"{field} must be a non-empty list of rows")
    check_rows(len(data), max_rows, field)
    return Batch(list(data))


def parse_csv(raw: bytes, spec: InputSpec, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Batch:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the CSV body is not UTF-8 text") from exc
    lines = [r for r in csv.reader(io.StringIO(text)) if r]
    if not lines:
        raise InvalidInput("the CSV body is empty")
    header = [h.strip() for h in lines[0]]
    check_rows(len(lines) - 1, max_rows, "csv")  # with a header row, or one row more without
    if set(header) & set(spec.names) or spec.named:
        records = []
        for i, cells in enumerate(lines[1:]):
            if len(cells) != len(header):
                raise SchemaMismatch(f"CSV line {i + 2} has {len(cells)} cells; the header "
                                     f"has {len(header)}")
            records.append(dict(zip(header, (_cell(c, spec, h) for c, h in zip(
                cells, header, strict=True)), strict=True)))
        if not records:
            raise InvalidInput("the CSV body has a header but no rows")
        return read_rows(records, spec, "csv", max_rows=max_rows)
    rows = [[_cell(c, spec, None, j) for j, c in enumerate(cells)] for cells in lines]
    return read_rows(rows, spec, "csv", max_rows=max_rows)


def _cell(text: str, spec: InputSpec, name: str | None, position: int = 0) -> Any:
    col = next((c for c in spec.columns if c.name == name), None) if name is not None else (
        spec.columns[position] if position < spec.width else None)
    kind = col.kind if col else NUMBER
    text = text.strip()
    if kind == STRING:
        return text
    if kind == BOOL:
        low = text.lower()
        return True if low == "true" else False if low == "false" else text
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


# -- Open Inference Protocol v2 -----------------------------------------------------------------
OIP_NUMERIC = {"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
               "UINT32", "UINT64"}
OIP_TYPES = OIP_NUMERIC | {"BOOL", "BYTES"}


def oip_datatype(kind: str) -> str:
    return {NUMBER: "FP64", INTEGER: "INT64", STRING: "BYTES", BOOL: "BOOL"}.get(kind, "BYTES")


def parse_oip(body: Any, spec: InputSpec, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Batch:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body[
            "inputs"]:
        raise InvalidInput('send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    tensors = [_tensor(t, i) for i, t in enumerate(body["inputs"])]
    by_name = {t[0]: t for t in tensors}
    if len(tensors) == 1 and (tensors[0][0] not in spec.names or spec.width == 1):
        name, shape, values = tensors[0]
        if len(shape) == 1:
            shape = [1, shape[0]] if spec.width > 1 else [shape[0], 1]
        if len(shape) != 2 or shape[1] != spec.width:
            raise SchemaMismatch(f"input {name!r} has shape {shape}; the model takes "
                                 f"[n, {spec.width}]: {spec.describe()}")
        width = shape[1]
        check_rows(shape[0], max_rows, f"input {name!r}")
        return read_rows([values[i:i + width] for i in range(0, len(values), width)], spec,
                         f"input {name!r}", max_rows=max_rows)
    for name in by_name:
        if name not in spec.names:
            raise SchemaMismatch(f"unknown input {name!r}; the model takes "
                                 f"{spec.describe()}")
    columns: dict[str, list[Any]] = {}
    for col in spec.columns:
        if col.name not in by_name:
            raise SchemaMismatch(f"the input {col.name!r} is missing")
        _, shape, values = by_name[col.name]
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise SchemaMismatch(f"input {col.name!r} has shape {shape}; a column is [n] or "
                                 "[n, 1]")
        columns[col.name] = values
    return _from_columns(columns, spec, "inputs", max_rows)


def _tensor(t: Any, index: int) -> tuple[str, list[int], list[Any]]:
    if not isinstance(t, dict):
        raise InvalidInput(f"inputs[{index}] must be an object with name, shape, datatype, data")
    name = t.get("name")
    shape = t.get("shape")
    datatype = t.get("datatype")
    if not isinstance(name, str):
        raise InvalidInput(f"inputs[{index}] has no name")
    if not (isinstance(shape, list) and all(type(d) is int and d >= 1 for d in shape)):
        # no zero: [n, 0] says n rows of nothing, which data [] would satisfy for any n
        raise InvalidInput(f"input {name!r}: shape must be a list of positive integers, "
                           f"not {json.dumps(shape)}")
    if datatype not in OIP_TYPES:
        known = ", ".join(sorted(OIP_TYPES))
        raise InvalidInput(f"input {name!r}: datatype must be one of {known}")
    if "data" not in t:
        raise InvalidInput(f"input {name!r} has no data")
    try:
        values = flatten(t["data"])
    except RecursionError as exc:
        raise InvalidInput(f"input {name!r}: data nests too deeply") from exc
    size = math.prod(shape)
    if len(values) != size:
        raise InvalidInput(f"input {name!r} has {len(values):,} values but its shape {shape} "
                           f"needs {size:,}")
    for v in values:
        ok = (type(v) in (int, float) if datatype in OIP_NUMERIC
              else type(v) is bool if datatype == "BOOL" else type(v) is str)
        if not ok:
            raise SchemaMismatch(f"input {name!r} is {datatype} but holds {json.dumps(v)}")
    return name, list(shape), values


def flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    if all(not isinstance(x, list) for x in data):
        return data
    out: list[Any] = []
    for x in data:
        out.extend(flatten(x))
    return out


def parse_oip_raw(body: Any, *, max_rows: int | None = DEFAULT_MAX_ROWS) -> Batch:
    """OIP input for a model whose signature is not a table: the first tensor, split in rows."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body[
            "inputs"]:
        raise InvalidInput('send {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
    tensors = [_tensor(t, i) for i, t in enumerate(body["inputs"])]  # every input checked
    name, shape, values = tensors[0]
    if not shape:
        raise SchemaMismatch("the input tensor needs a batch dimension")
    check_rows(shape[0], max_rows, f"input {name!r}")
    size = math.prod(shape[1:])
    return Batch([_reshape(values[i * size:(i + 1) * size], shape[1:]) for i in range(shape[0])])


def _reshape(flat: list[Any], shape: list[int]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    step = math.prod(shape[1:])
    return [_reshape(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]


def oip_requested_outputs(body: Any, available: Sequence[str]) -> list[str]:
    """The outputs an OIP request names (``predict`` when it names none)."""
    wanted = body.get("outputs") if isinstance(body, dict) else None
    if not wanted:
        return [available[0]]
    if not isinstance(wanted, list) or not all(isinstance(o, dict) for o in wanted):
        raise InvalidInput('outputs must be a list of {"name": ...}')
    names = [str(o.get("name")) for o in wanted]
    for name in names:
        if name not in available:
            raise InvalidInput(f"unknown output {name!r}; this model has "
                               f"{', '.join(available)}")
    return names


def oip_output(name: str, values: list[Any]) -> dict[str, Any]:
    """One response tensor: shape ``[n]`` or ``[n, m]``, data flattened row-major."""
    shape = [len(values)]
    flat = values
    if values and isinstance(values[0], list):
        shape.append(len(values[0]))
        flat = flatten(values)
    return {"name": name, "datatype": _datatype_of(flat), "shape": shape, "data": flat}


def _datatype_of(values: Sequence[Any]) -> str:
    types = {type(v) for v in values}
    if types <= {bool}:
        return "BOOL"
    if types <= {int}:
        return "INT64"
    if types <= {int, float}:
        return "FP64"
    return "BYTES"
