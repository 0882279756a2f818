"""Signatures: inferred from examples, and checking requests with one sentence per mistake."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from cairn.errors import InvalidInput
from cairn.models.signature import Signature, infer_signature


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"age": [31, 45], "income": [52.5, 71.0], "plan": ["basic", "pro"],
                         "active": [True, False]})


def test_dataframe_gives_named_typed_columns(table: pd.DataFrame) -> None:
    sig = infer_signature(table)
    assert sig.kind == "columns"
    assert [(c.name, c.dtype) for c in sig.columns] == [
        ("age", "int64"), ("income", "float64"), ("plan", "string"), ("active", "bool")]
    assert sig.feature_names == ["age", "income", "plan", "active"]


def test_array_and_nested_lists_give_a_tensor() -> None:
    sig = infer_signature(np.zeros((5, 4), dtype=np.float32))
    assert (sig.kind, sig.shape, sig.dtype) == ("tensor", (-1, 4), "float32")
    assert sig.feature_names == ["0", "1", "2", "3"]
    nested = infer_signature([[5.1, 3.5, 1.4, 0.2], [4.9, 3.0, 1.4, 0.2]])
    assert (nested.shape, nested.dtype) == ((-1, 4), "float64")
    images = infer_signature(np.zeros((2, 3, 8, 8)))
    assert images.shape == (-1, 3, 8, 8)


def test_records_and_dict_of_lists_give_columns() -> None:
    assert infer_signature([{"a": 1, "b": "x"}]).feature_names == ["a", "b"]
    assert infer_signature({"a": [1.0, 2.0], "b": [3, 4]}).feature_names == ["a", "b"]


def test_json_round_trip(table: pd.DataFrame) -> None:
    for sig in (infer_signature(table), infer_signature(np.ones((3, 2)))):
        assert Signature.from_json(sig.to_json()) == sig
    with pytest.raises(InvalidInput):
        Signature.from_json({"type": "graph"})


def test_validate_accepts_records_rows_flat_rows_and_frames(table: pd.DataFrame) -> None:
    sig = infer_signature(table)
    from_records = sig.validate([{"plan": "pro", "age": 50, "income": 10, "active": True}])
    assert list(from_records.columns) == ["age", "income", "plan", "active"]
    assert from_records["income"].dtype == np.float64  # a JSON int where a float is expected
    assert from_records["age"].dtype == np.int64
    rows = sig.validate([[50, 10.5, "pro", "true"]])
    assert rows.loc[0, "active"] is np.True_ or bool(rows.loc[0, "active"]) is True
    flat = sig.validate([50, 10.5, "pro", False])
    assert len(flat) == 1
    pd.testing.assert_frame_equal(sig.validate(table), table, check_dtype=False)


def test_validate_numeric_fast_path_keeps_column_names() -> None:
    sig = infer_signature(pd.DataFrame({"x": [1.0], "y": [2.0]}))
    out = sig.validate([[1, 2], [3.5, 4]])
    assert list(out.columns) == ["x", "y"]
    assert out.to_numpy().tolist() == [[1.0, 2.0], [3.5, 4.0]]
    records = sig.validate([{"y": 2, "x": 1}])  # keys in any order
    assert records.to_numpy().tolist() == [[1.0, 2.0]]
    for bad, message in (([{"x": "a", "y": 1}], "column 'x' must be numeric (float64)"),
                         ([{"x": 1, "z": 1}], "unknown column 'z'"),
                         ([[1, "b"]], "column 'y' must be numeric (float64); row 0 has 'b'")):
        with pytest.raises(InvalidInput, match=re.escape(message)):
            sig.validate(bad)


@pytest.mark.parametrize(("inputs", "message"), [
    ([{"age": 1, "income": 2.0, "plan": "a", "active": True, "colour": "red"}],
     "unknown column 'colour'"),
    ([{"age": 1, "income": 2.0, "active": True}], "missing column 'plan'"),
    ([{"age": "old", "income": 2.0, "plan": "a", "active": True}],
     "column 'age' must be numeric (int64); row 0 has 'old'"),
    ([[1, 2.0, "a"]], "row 0 has 3 values; the model expects 4 columns"),
    ([{"age": 1, "income": 2.0, "plan": "a", "active": "maybe"}],
     "column 'active' must be true or false; row 0 has 'maybe'"),
    ([{"age": 1, "income": 2.0, "plan": ["a"], "active": True}],
     "column 'plan' must hold single values; row 0 has a list"),
    ([], "inputs are empty"),
    ("age=1", "inputs must be a list of rows or records"),
])
def test_validate_columns_names_the_field(table: pd.DataFrame, inputs: Any,
                                          message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        infer_signature(table).validate(inputs)
    assert message in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(("inputs", "message"), [
    ([[1.0, 2.0, 3.0]], "row 0 has 3 values; the model expects 4"),
    ([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0]], "row 1 has 2 values; the model expects 4"),
    ([[1.0, "x", 3.0, 4.0]], "inputs must be numeric (float64); row 0, column 1 has 'x'"),
    ([[1.0, None, 3.0, 4.0]], "inputs must be numeric (float64); row 0, column 1 has None"),
    ([{"a": 1}], "rows of values, not records"),
    (np.zeros((2, 5)), "inputs have shape [2, 5]; the model expects [N x 4]"),
])
def test_validate_tensor_names_the_problem(inputs: Any, message: str) -> None:
    sig = infer_signature(np.zeros((3, 4)))
    with pytest.raises(InvalidInput) as caught:
        sig.validate(inputs)
    assert message in caught.value.message


def test_validate_tensor_converts_and_accepts_one_flat_row() -> None:
    sig = infer_signature(np.zeros((3, 4), dtype=np.float32))
    out = sig.validate([5.1, 3.5, 1.4, 0.2])
    assert out.shape == (1, 4) and out.dtype == np.float32
    assert sig.validate([[1, 2, 3, 4]]).dtype == np.float32
