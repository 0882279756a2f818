"""Editing a recorded command line and a params file the way a fork does."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.capture.params import load_params_file
from cairn.errors import InvalidInput, NotFound
from cairn.fork.overrides import add_flag, parse_input_swaps, parse_sets, same_value, set_flag
from cairn.fork.paramfile import rewrite_params_file

CMD = ["python", "train.py", "--lr", "0.1", "--n-steps=3", "--verbose", "data.csv"]


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("lr", "0.01", ["--lr", "0.01", "--n-steps=3", "--verbose", "data.csv"]),
    ("n_steps", "5", ["--lr", "0.1", "--n-steps=5", "--verbose", "data.csv"]),
    ("lr", "-1", ["--lr", "-1", "--n-steps=3", "--verbose", "data.csv"]),
    ("lr", "-x", ["--lr=-x", "--n-steps=3", "--verbose", "data.csv"]),
])
def test_set_flag_changes_the_value_in_place(key: str, value: str, expected: list[str]) -> None:
    assert set_flag(CMD, key, value) == CMD[:2] + expected


def test_a_bare_switch_is_removed_by_false_and_kept_by_true() -> None:
    cmd = ["prog", "--verbose"]
    assert set_flag(cmd, "verbose", "false") == ["prog"]
    assert set_flag(cmd, "verbose", "true") == ["prog", "--verbose"]
    assert set_flag(cmd, "verbose", "2") == ["prog", "--verbose", "2"]


def test_a_flag_that_is_not_there_is_none_and_repeated_flags_are_refused() -> None:
    assert set_flag(CMD, "epochs", "3") is None
    assert set_flag(["prog", "lr", "--lrx", "1"], "lr", "2") is None  # whole flags only
    with pytest.raises(InvalidInput, match="appears 2 times"):
        set_flag(["prog", "--tag", "a", "--tag", "b"], "tag", "c")


def test_add_flag_follows_the_commands_spelling() -> None:
    assert add_flag(["prog", "--n-steps", "3"], "batch_size", "8") == \
        ["prog", "--n-steps", "3", "--batch-size", "8"]
    assert add_flag(["prog", "--n_steps", "3"], "batch-size", "8") == \
        ["prog", "--n_steps", "3", "--batch_size", "8"]
    assert add_flag(["prog"], "verbose", "true") == ["prog", "--verbose"]
    assert add_flag(["prog"], "verbose", "false") is None
    assert add_flag(["prog"], "shift", "-x") == ["prog", "--shift=-x"]


def test_parse_sets_keeps_values_as_text_and_refuses_malformed_pairs() -> None:
    assert parse_sets(["lr=0.01", "model.name=a=b", "empty="]) == \
        {"lr": "0.01", "model.name": "a=b", "empty": ""}
    for bad in ("lr", "=1", "a b=1", "1x=2"):
        with pytest.raises(InvalidInput, match="KEY=VALUE"):
            parse_sets([bad])
    with pytest.raises(InvalidInput, match="twice"):
        parse_sets(["lr=1", "lr=2"])


def test_parse_input_swaps_resolves_the_new_path(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (swap,) = parse_input_swaps(["./data/=mine"], tmp_path)
    assert swap.path == "data"
    assert swap.source == (tmp_path / "mine").resolve()
    with pytest.raises(NotFound, match="does not exist"):
        parse_input_swaps(["data=nowhere"], tmp_path)
    with pytest.raises(InvalidInput, match="not a path inside"):
        parse_input_swaps(["/etc=mine"], tmp_path)


def test_same_value_compares_text_and_numbers() -> None:
    assert same_value(0.01, "0.01")
    assert same_value(3, "3.0")
    assert same_value("fast", "fast")
    assert not same_value(0.1, "0.01")
    assert not same_value(True, "1.5")


# -- params files ---------------------------------------------------------------------------------
def test_yaml_keeps_comments_and_layout(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("# top\nmodel:\n  lr: 0.1  # rate\n  name: 'rf'\nsteps: 4\nlr: 9\n")

    rewrite_params_file(path, {"model.lr": "1e-3", "model.name": "gbm", "lr": "7"})

    assert path.read_text() == \
        "# top\nmodel:\n  lr: 0.001  # rate\n  name: gbm\nsteps: 4\nlr: 7\n"
    assert load_params_file(path) == {"model.lr": 0.001, "model.name": "gbm", "steps": 4,
                                      "lr": 7}


def test_yaml_that_cannot_be_edited_in_place_is_rewritten_whole(tmp_path: Path) -> None:
    path = tmp_path / "params.yml"
    path.write_text("model: {lr: 0.1, depth: 3}\n")

    rewrite_params_file(path, {"model.lr": "0.5"})

    assert load_params_file(path) == {"model.lr": 0.5, "model.depth": 3}


def test_json_is_rewritten_with_the_new_values(tmp_path: Path) -> None:
    path = tmp_path / "conf.json"
    path.write_text('{\n  "opt": {"lr": 0.1, "beta": [0.9, 0.99]},\n  "name": "x"\n}\n')

    rewrite_params_file(path, {"opt.lr": "0.3", "name": "y"})

    assert load_params_file(path) == {"opt.lr": 0.3, "opt.beta": [0.9, 0.99], "name": "y"}


def test_toml_is_edited_line_by_line(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    path.write_text('seed = 1\ntrain.epochs = 3\n\n[model]\nlr = 0.1  # rate\nkind = "rf"\n')

    rewrite_params_file(path, {"model.lr": "0.25", "train.epochs": "10", "model.kind": "gbm"})

    assert path.read_text() == \
        'seed = 1\ntrain.epochs = 10\n\n[model]\nlr = 0.25  # rate\nkind = "gbm"\n'


def test_toml_that_cannot_be_edited_safely_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "conf.toml"
    text = 'model = { lr = 0.1 }\n'
    path.write_text(text)

    with pytest.raises(InvalidInput, match=r"cannot rewrite model\.lr"):
        rewrite_params_file(path, {"model.lr": "0.5"})
    assert path.read_text() == text
