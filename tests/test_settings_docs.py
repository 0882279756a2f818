"""Settings that cannot drift from the README, nor be read around ``settings.py``.

Every variable in ``Env`` and every key in ``Key`` has a row in the README's Configuration
table (a variable and a key that share an attribute name share a row); every ``CAIRN_*``
name the code spells is declared there or in ``Internal``; and no module but ``settings.py``
reads a user variable from the environment.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from cairn.settings import Env, Internal, Key

ROOT = Path(__file__).parent.parent
SRC = ROOT / "src" / "cairn"
README = (ROOT / "README.md").read_text()
# Runs inside the user's interpreter, where cairn cannot be imported.
BOOTSTRAP = SRC / "runner" / "bootstrap"


def _names(namespace: type) -> dict[str, str]:
    return {k: v for k, v in vars(namespace).items() if k.isupper() and isinstance(v, str)}


def _table() -> list[tuple[str, str]]:
    """(variable, config key) of each row of the README's Configuration table."""
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and cells[0] not in ("variable", "---"):
            rows.append((cells[0], cells[1]))
    return rows


ENV = _names(Env)
KEYS = _names(Key)
INTERNAL = _names(Internal)
ROWS = _table()


def _documents(variable: str, documented: str) -> bool:
    if variable == Env.SECRET_PREFIX:
        return documented.startswith(variable)  # CAIRN_SECRET_<FLAG>
    return documented == variable


@pytest.mark.parametrize("attr", sorted(ENV))
def test_every_variable_has_a_row(attr: str) -> None:
    rows = [row for row in ROWS if _documents(ENV[attr], row[0])]
    assert rows, f"README.md's Configuration table has no row for {ENV[attr]}"
    if attr in KEYS:
        assert rows[0][1] == KEYS[attr], f"{ENV[attr]} and {KEYS[attr]} belong on one row"


@pytest.mark.parametrize("attr", sorted(KEYS))
def test_every_config_key_has_a_row(attr: str) -> None:
    rows = [row for row in ROWS if row[1] == KEYS[attr]]
    assert rows, f"README.md's Configuration table has no row for the key {KEYS[attr]}"
    if attr not in ENV:
        assert rows[0][0] == "", f"{KEYS[attr]} has no variable in settings.Env"


def test_the_table_documents_only_what_settings_declares() -> None:
    assert ROWS, "README.md has no Configuration table"
    for variable, key in ROWS:
        assert not variable or any(_documents(v, variable) for v in ENV.values()), variable
        assert not key or key in KEYS.values(), key
    assert not set(INTERNAL.values()) & {v for v, _ in ROWS}, "a hand-off is not a setting"


def test_every_cairn_variable_the_code_names_is_declared() -> None:
    declared = set(ENV.values()) | set(INTERNAL.values())
    undeclared = {}
    for path in sorted(SRC.rglob("*.py")):
        for name in re.findall(r"\bCAIRN_[A-Z0-9][A-Z0-9_]*", path.read_text()):
            name = name.rstrip("_")
            if name not in declared and not (name + "_").startswith(Env.SECRET_PREFIX):
                undeclared[name] = path.relative_to(ROOT)
    assert not undeclared, (f"declare these in settings.Env (and document them in README.md) "
                            f"or, for hand-offs to child processes, in settings.Internal: "
                            f"{undeclared}")


def _reads(node: ast.AST) -> ast.expr | None:
    """The name argument when ``node`` reads ``os.environ`` or ``os.getenv``."""
    def is_environ(n: ast.expr) -> bool:
        return isinstance(n, ast.Attribute) and n.attr == "environ"

    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
            and (node.func.attr == "getenv"
                 or (node.func.attr in ("get", "pop") and is_environ(node.func.value)))):
        return node.args[0]
    if (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
            and is_environ(node.value)):
        return node.slice
    if (isinstance(node, ast.Compare) and len(node.comparators) == 1
            and isinstance(node.ops[0], ast.In | ast.NotIn) and is_environ(node.comparators[0])):
        return node.left
    return None


def test_only_settings_reads_user_variables() -> None:
    readers = []
    for path in sorted(SRC.rglob("*.py")):
        if path == SRC / "settings.py" or BOOTSTRAP in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = _reads(node)
            if name is None:
                continue
            literal = name.value if isinstance(name, ast.Constant) else None
            via_env = (isinstance(name, ast.Attribute) and isinstance(name.value, ast.Name)
                       and name.value.id == "Env")
            if via_env or literal in ENV.values():
                readers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not readers, f"read these through cairn.settings: {readers}"


def test_the_bootstrap_spells_only_hand_offs_and_debug() -> None:
    used = set()
    for path in BOOTSTRAP.rglob("*.py"):
        used |= set(re.findall(r"\bCAIRN_[A-Z0-9_]+", path.read_text()))
    assert used <= {Internal.RUN_ID, Internal.BOOT_OUT, Env.DEBUG}, used
