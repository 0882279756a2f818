"""Docs that cannot drift from the code: every command has help text and is in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from cairn.cli.main import COMMANDS, cli

README = (Path(__file__).parent.parent / "README.md").read_text()


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_is_documented(name: str) -> None:
    assert f"cairn {name}" in README, f"README.md never mentions `cairn {name}`"


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_has_help(name: str) -> None:
    ctx = click.Context(cli)
    command = cli.get_command(ctx, name)
    assert command is not None
    assert (command.help or "").strip(), f"`cairn {name}` has no help text"
    if isinstance(command, click.Group):
        for sub in command.list_commands(ctx):
            assert (command.get_command(ctx, sub).help or "").strip(), f"cairn {name} {sub}"
