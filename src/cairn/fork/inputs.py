"""Putting the user's files in a fork's checkout: swapped inputs and added ones.

A swap replaces a declared input (or a file or folder inside one, or a file of the code) by
the user's own, like for like: a folder for a folder, a file for a file. The declared input
that holds it is hashed anew when the fork runs; the others keep the original's objects.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cairn.errors import InvalidInput, NotFound
from cairn.fork.overrides import Change, InputSwap
from cairn.reproduce.checkout import CheckoutResult
from cairn.reproduce.plan import ReproPlan, safe_rel


@dataclass(frozen=True)
class AddedInput:
    """A file or folder placed at ``path`` (relative to the project root) as a new input;
    ``env_var``, when given, tells the child its absolute path."""

    path: str
    source: Path
    env_var: str | None = None


def _replace(target: Path, source: Path) -> None:
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copyfile(source, target)


def apply_swaps(plan: ReproPlan, co: CheckoutResult, swaps: Sequence[InputSwap],
                 changes: list[Change]) -> list[str]:
    """Put the user's files in place; the declared inputs to hash anew."""
    declared = {i.path: i for i in plan.inputs}
    hashed: list[str] = []
    for swap in swaps:
        target = co.base / swap.path
        owner = next((p for p in declared if swap.path == p or swap.path.startswith(p + "/")),
                     None)
        if owner is None and not target.exists():
            names = ", ".join(sorted(declared)) or "none declared"
            raise NotFound(f"run {plan.run.number} has no input {swap.path!r} (its inputs: "
                           f"{names})", hint="see them with: cairn show RUN")
        was_dir = declared[owner].is_tree if owner == swap.path else target.is_dir()
        if was_dir != swap.source.is_dir():
            what, given = ("a folder", "a file") if was_dir else ("a file", "a folder")
            raise InvalidInput(f"{swap.path} is {what} in run {plan.run.number}, but "
                               f"{swap.source} is {given}; swap like for like")
        _replace(target, swap.source)
        path = owner or swap.path
        if path not in hashed:
            hashed.append(path)
        changes.append(Change("input", swap.path, None, str(swap.source), "replaced"))
    return hashed


def add_inputs(co: CheckoutResult, added: Sequence[AddedInput], changes: list[Change],
                hashed: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in added:
        if not safe_rel(item.path):
            raise InvalidInput(f"an added input must lie inside the project, not {item.path!r}")
        target = co.base / item.path
        _replace(target, item.source)
        if item.path not in hashed:
            hashed.append(item.path)
        if item.env_var:
            env[item.env_var] = str(target.resolve())
        changes.append(Change("input", item.path, None, str(item.source), "added"))
    return env
