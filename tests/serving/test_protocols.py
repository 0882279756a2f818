"""Request bodies of the three protocols read into the same checked rows, or one clear error."""

from __future__ import annotations

import math

import pytest

from cairn.errors import InvalidInput, SchemaMismatch, UnsupportedMediaType
from cairn.model_server.protocols import (
    Column,
    InputSpec,
    load_json,
    parse_invocations,
    parse_oip,
    parse_predict,
)

IRIS = InputSpec(tuple(Column(n, "number") for n in ("sl", "sw", "pl", "pw")), named=True)
TENSOR = InputSpec(tuple(Column(str(i), "number") for i in range(3)), named=False)
MIXED = InputSpec((Column("age", "integer"), Column("city", "string")), named=True)

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]
RECORDS = [dict(zip(("sl", "sw", "pl", "pw"), r, strict=True)) for r in ROWS]


def test_predict_takes_rows_records_columns_and_one_flat_row() -> None:
    assert parse_predict({"inputs": ROWS}, IRIS).rows == ROWS
    assert parse_predict({"inputs": RECORDS}, IRIS).rows == ROWS
    columns = {k: [r[k] for r in RECORDS] for k in RECORDS[0]}
    assert parse_predict({"inputs": columns}, IRIS).rows == ROWS
    assert parse_predict({"inputs": ROWS[0]}, IRIS).rows == [ROWS[0]]
    assert parse_predict({"inputs": RECORDS[0]}, IRIS).rows == [ROWS[0]]


def test_records_may_come_in_any_key_order() -> None:
    shuffled = [{"pw": 0.2, "pl": 1.4, "sw": 3.5, "sl": 5.1}]
    assert parse_predict({"inputs": shuffled}, IRIS).rows == [ROWS[0]]


@pytest.mark.parametrize(("body", "named"), [
    ({"inputs": [[1.0, 2.0, 3.0]]}, "4 values"),
    ({"inputs": [{"sl": 1, "sw": 2, "pl": 3}]}, "'pw'"),
    ({"inputs": [{**RECORDS[0], "colour": 1}]}, "'colour'"),
    ({"inputs": [[5.1, "wide", 1.4, 0.2]]}, "'sw'"),
    ({"inputs": [[5.1, True, 1.4, 0.2]]}, "'sw'"),
    ({"inputs": [[5.1, [1], 1.4, 0.2]]}, "'sw'"),
    ({"inputs": [1.0, 2.0]}, "rows"),
    ({"inputs": [ROWS[0], 7]}, "inputs[1]"),
])
def test_rows_that_do_not_fit_the_signature_name_the_problem(body: object, named: str) -> None:
    with pytest.raises(SchemaMismatch) as err:
        parse_predict(body, IRIS)
    assert named in err.value.message
    assert err.value.http_status == 422


@pytest.mark.parametrize("body", [{"rows": ROWS}, [ROWS], {"inputs": []}, {"inputs": "x"}, None])
def test_bodies_of_the_wrong_shape_are_bad_requests(body: object) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_predict(body, IRIS)
    assert err.value.http_status in (400, 422)


def test_malformed_json_is_a_bad_request() -> None:
    for raw in (b"{", b"", b"\xff\xfe", b"{'inputs': 1}"):
        with pytest.raises(InvalidInput) as err:
            load_json(raw)
        assert err.value.http_status == 400


def test_missing_numbers_become_nan_and_integers_are_checked() -> None:
    assert math.isnan(parse_predict({"inputs": [[None, 1, 2, 3]]}, IRIS).rows[0][0])
    assert parse_predict({"inputs": [{"age": 3.0, "city": "Oslo"}]}, MIXED).rows == [[3, "Oslo"]]
    with pytest.raises(SchemaMismatch, match="'age' expects an integer"):
        parse_predict({"inputs": [{"age": 3.5, "city": "Oslo"}]}, MIXED)
    with pytest.raises(SchemaMismatch, match="'city' expects text"):
        parse_predict({"inputs": [[3, 4]]}, MIXED)


def test_unnamed_tensors_refuse_records() -> None:
    assert parse_predict({"inputs": [[1, 2, 3]]}, TENSOR).rows == [[1, 2, 3]]
    with pytest.raises(SchemaMismatch, match="unnamed"):
        parse_predict({"inputs": [{"a": 1, "b": 2, "c": 3}]}, TENSOR)


def mlflow(body: str, content_type: str = "application/json") -> list[list[object]]:
    return parse_invocations(content_type, body.encode(), IRIS).rows


def test_mlflow_formats_all_read_the_same_rows() -> None:
    assert mlflow('{"dataframe_split": {"columns": ["sl", "sw", "pl", "pw"], '
                  '"data": [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]}}') == ROWS
    assert mlflow('{"dataframe_split": {"columns": ["pw", "pl", "sw", "sl"], '
                  '"data": [[0.2, 1.4, 3.5, 5.1]], "index": [0]}}') == [ROWS[0]]
    assert mlflow('{"dataframe_records": [{"sl": 5.1, "sw": 3.5, "pl": 1.4, "pw": 0.2}, '
                  '{"sl": 6.2, "sw": 2.9, "pl": 4.3, "pw": 1.3}]}') == ROWS
    assert mlflow('{"instances": [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3]]}') == ROWS
    assert mlflow('{"inputs": {"sl": [5.1, 6.2], "sw": [3.5, 2.9], "pl": [1.4, 4.3], '
                  '"pw": [0.2, 1.3]}}') == ROWS
    assert mlflow("sl,sw,pl,pw\n5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n", "text/csv") == ROWS
    assert mlflow("pw,pl,sw,sl\r\n0.2,1.4,3.5,5.1\r\n", "text/csv; charset=utf-8") == [ROWS[0]]


def test_mlflow_errors() -> None:
    with pytest.raises(InvalidInput, match="exactly one of"):
        mlflow('{"instances": [[1,2,3,4]], "inputs": [[1,2,3,4]]}')
    with pytest.raises(InvalidInput, match="exactly one of"):
        mlflow('{"data": [[1,2,3,4]]}')
    with pytest.raises(UnsupportedMediaType):
        mlflow("<x/>", "application/xml")
    with pytest.raises(SchemaMismatch, match="'pw'"):
        mlflow("sl,sw,pl\n1,2,3\n", "text/csv")
    with pytest.raises(SchemaMismatch, match="'sl' expects a number"):
        mlflow("sl,sw,pl,pw\nx,2,3,4\n", "text/csv")
    with pytest.raises(SchemaMismatch, match="line 3"):
        mlflow("sl,sw,pl,pw\n1,2,3,4\n1,2\n", "text/csv")


def test_oip_one_matrix_or_one_tensor_per_column() -> None:
    matrix = {"inputs": [{"name": "input-0", "shape": [2, 4], "datatype": "FP64",
                          "data": [5.1, 3.5, 1.4, 0.2, 6.2, 2.9, 4.3, 1.3]}]}
    assert parse_oip(matrix, IRIS).rows == ROWS
    nested = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": ROWS}]}
    assert parse_oip(nested, IRIS).rows == ROWS
    per_column = {"inputs": [
        {"name": n, "shape": [2], "datatype": "FP64", "data": [r[i] for r in ROWS]}
        for i, n in enumerate(("sl", "sw", "pl", "pw"))]}
    assert parse_oip(per_column, IRIS).rows == ROWS


@pytest.mark.parametrize(("tensor", "named"), [
    ({"name": "x", "shape": [1, 3], "datatype": "FP64", "data": [1, 2, 3]}, "[n, 4]"),
    ({"name": "x", "shape": [2, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}, "needs 8"),
    ({"name": "x", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, "a", 4]}, "'x' is FP64"),
    ({"name": "x", "shape": [1, 4], "datatype": "FLOAT", "data": [1, 2, 3, 4]}, "datatype"),
    ({"name": "x", "shape": "1,4", "datatype": "FP64", "data": [1, 2, 3, 4]}, "shape"),
    ({"shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}, "no name"),
])
def test_oip_errors_name_the_input(tensor: dict[str, object], named: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse_oip({"inputs": [tensor]}, IRIS)
    assert named in err.value.message
