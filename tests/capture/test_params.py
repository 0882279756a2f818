"""Params and metrics from files in three formats, and from command lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.capture.params import (
    flatten,
    load_metrics_file,
    load_params_file,
    params_from_argv,
    parse_scalar,
)
from cairn.errors import InvalidInput, NotFound

EXPECTED = {
    "model.lr": 0.1,
    "model.layers": [64, 32],
    "model.name": "mlp",
    "train.epochs": 3,
    "train.shuffle": True,
    "seed": 7,
}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("p.yaml", "model:\n  lr: 0.1\n  layers: [64, 32]\n  name: mlp\n"
                   "train:\n  epochs: 3\n  shuffle: true\nseed: 7\n"),
        ("p.json", '{"model": {"lr": 0.1, "layers": [64, 32], "name": "mlp"},'
                   ' "train": {"epochs": 3, "shuffle": true}, "seed": 7}'),
        ("p.toml", 'seed = 7\n[model]\nlr = 0.1\nlayers = [64, 32]\nname = "mlp"\n'
                   "[train]\nepochs = 3\nshuffle = true\n"),
    ],
)  # fmt: skip
def test_params_files_are_flattened(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    assert load_params_file(path) == EXPECTED


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n", "line"),
        ("bad.json", '{\n  "a": 1,\n  "b": oops\n}', "line 3"),
        ("bad.toml", "a = 1\nb = = 2\n", "line 2"),
    ],
)
def test_broken_file_is_one_readable_sentence(
    tmp_path: Path, name: str, text: str, line: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InvalidInput) as info:
        load_params_file(path)
    message = info.value.message
    assert name in message and line in message and "\n" not in message


def test_yaml_error_line_is_the_parsers(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("a: 1\nb: 2\nc: [1, 2\n")
    with pytest.raises(InvalidInput, match=r"at line \d"):
        load_params_file(path)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    (tmp_path / "p.ini").write_text("[a]\nb=1\n")
    with pytest.raises(InvalidInput, match="must end in"):
        load_params_file(tmp_path / "p.ini")
    with pytest.raises(NotFound):
        load_params_file(tmp_path / "missing.yaml")


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("[1, 2]")
    with pytest.raises(InvalidInput, match="mapping"):
        load_params_file(tmp_path / "p.json")


def test_empty_yaml_is_no_params(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("# nothing yet\n")
    assert load_params_file(tmp_path / "p.yaml") == {}


def test_dates_become_strings(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text("start = 2024-01-02\n")
    assert load_params_file(tmp_path / "p.toml") == {"start": "2024-01-02"}


def test_flatten_keeps_lists_and_empty_maps() -> None:
    assert flatten({"a": {"b": {"c": 1}}, "l": [{"x": 1}], "e": {}}) == {
        "a.b.c": 1,
        "l": [{"x": 1}],
        "e": {},
    }


def test_metrics_file_keeps_numeric_leaves(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text(
        '{"acc": 0.9, "loss": 1, "val": {"acc": 0.8, "name": "x", "ok": true}, "hist": [1, 2]}'
    )
    assert load_metrics_file(tmp_path / "m.json") == {"acc": 0.9, "loss": 1.0, "val.acc": 0.8}
    (tmp_path / "m.yaml").write_text("rmse: 3.5\nnested:\n  r2: 0.7\n")
    assert load_metrics_file(tmp_path / "m.yaml") == {"rmse": 3.5, "nested.r2": 0.7}


def test_params_from_argv() -> None:
    argv = ["Rscript", "train.R", "data.csv", "--lr", "0.1", "--epochs=3", "--verbose",
            "--offset", "-2", "--name", "run a", "--tag", "x", "--tag", "y", "-q",
            "--flag", "--", "--after", "1"]  # fmt: skip
    assert params_from_argv(argv) == {
        "lr": 0.1,
        "epochs": 3,
        "verbose": True,
        "offset": -2,
        "name": "run a",
        "tag": ["x", "y"],
        "flag": True,
    }


@pytest.mark.parametrize(
    ("text", "value"),
    [("3", 3), ("-3", -3), ("0.5", 0.5), ("1e-3", 0.001), (".5", 0.5), ("True", True),
     ("false", False), ("abc", "abc"), ("1.2.3", "1.2.3"), ("nan", "nan"), ("", "")],
)  # fmt: skip
def test_parse_scalar(text: str, value: object) -> None:
    assert parse_scalar(text) == value
    assert type(parse_scalar(text)) is type(value)
