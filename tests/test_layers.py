"""Imports point down the layer list of docs/architecture.md, and along each line to the right.

The list is read from the document itself, so the document and the code cannot drift apart:
change one and this test says where the other disagrees.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "cairn"
DOC = ROOT / "docs" / "architecture.md"
ENTRY_POINTS = {"__init__", "__main__"}
UNORDERED_LINES = {"faces"}  # faces never import one another
THIRD_PARTY = {  # library -> the packages that may import it
    "click": {"cli"}, "typer": {"cli"}, "rich": {"cli"},
    "fastapi": {"server", "model_server"},
}


@dataclass(frozen=True)
class Place:
    line: int
    name: str
    column: int


def layer_list(text: str) -> dict[str, Place]:
    """Each package or base module of the ``## Layers`` block, with its line and column."""
    section = text.split("## Layers", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.DOTALL)
    assert block, "docs/architecture.md has no layer block under '## Layers'"
    places: dict[str, Place] = {}
    for line_no, line in enumerate(block.group(1).splitlines()):
        name, *members = line.split()
        for column, member in enumerate(members):
            places[member.removesuffix("/").removesuffix(".py")] = Place(line_no, name, column)
    return places


def package_of(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in ``path``: module level, in functions, under TYPE_CHECKING."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "cairn":  # from cairn import errors, sdk…
                found += [(node.lineno, f"cairn.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return found


def allowed(source: Place, target: Place) -> bool:
    if target.line != source.line:
        return target.line > source.line
    return source.name not in UNORDERED_LINES and target.column > source.column


def violations(places: dict[str, Place]) -> list[str]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        package = package_of(path)
        if package in ENTRY_POINTS:
            continue
        source = places.get(package)
        if source is None:
            out.append(f"{path.relative_to(ROOT)}: package {package!r} is not in the layer list")
            continue
        for line, module in imports_of(path):
            parts = module.split(".")
            where = f"{path.relative_to(ROOT)}:{line}"
            if parts[0] in THIRD_PARTY and package not in THIRD_PARTY[parts[0]]:
                out.append(f"{where}: {package}/ imports {parts[0]}")
            if parts[0] != "cairn" or len(parts) < 2 or parts[1] in (package, "__version__"):
                continue
            target = places.get(parts[1])
            if target is None:
                out.append(f"{where}: imports {module}, which is not in the layer list")
            elif not allowed(source, target):
                out.append(f"{where}: {package} ({source.name}) imports {module} "
                           f"({target.name}), against the layer list")
    return out


def test_every_import_follows_the_layer_list() -> None:
    problems = violations(layer_list(DOC.read_text(encoding="utf-8")))
    assert not problems, "\n".join(problems)


def test_every_package_is_in_the_layer_list() -> None:
    places = layer_list(DOC.read_text(encoding="utf-8"))
    packages = {package_of(p) for p in SRC.iterdir()
                if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    assert packages - ENTRY_POINTS <= set(places), packages - ENTRY_POINTS - set(places)
    assert set(places) <= packages, set(places) - packages  # no name for code that is gone


@pytest.mark.parametrize(("source", "target", "ok"), [
    ("runner", "store", True),          # down a line
    ("store", "runner", False),         # up a line
    ("fork", "reproduce", True),        # to the right on one line
    ("history", "reproduce", False),    # to the left on one line
    ("server", "model_server", False),       # faces never import each other
    ("cli", "server", True),            # the launcher starts the servers
])
def test_the_rule_reads_the_document_as_written(source: str, target: str, ok: bool) -> None:
    places = layer_list(DOC.read_text(encoding="utf-8"))
    assert allowed(places[source], places[target]) is ok


def test_an_upward_import_is_reported(tmp_path: Path) -> None:
    """The checker itself finds a planted violation, so a silent pass means a clean tree."""
    places = layer_list(DOC.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from cairn.server.app import create_app\n")
    modules = [m for _, m in imports_of(bad)]
    assert modules == ["cairn.server.app"]
    assert not allowed(places["store"], places[modules[0].split(".")[1]])
