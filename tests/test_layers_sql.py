"""``store/`` is the only package that speaks SQL.

Every statement lives in a store module behind a typed function, so a schema change is made
in one package and the faces (server, model server, SDK, CLI) and workflows cannot drift
into copies of one query. This test reads every module of ``src/cairn`` outside ``store/``
and fails on an SQL statement or on a call that runs one on a connection.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "cairn"
STORE = SRC / "store"

# The start of a statement as written in a string: a keyword and what must follow it.
_STATEMENT = re.compile(
    r"\b(SELECT\s+(?:DISTINCT\s+)?(?:[\w*(]|$)|INSERT\s+(?:OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s"
    r"|DELETE\s+FROM\s|CREATE\s+(?:TEMP\s+)?(?:TABLE|INDEX|TRIGGER)\s|DROP\s+TABLE\s"
    r"|ALTER\s+TABLE\s|BEGIN(?:\s+IMMEDIATE)?$|SAVEPOINT\s|PRAGMA\s)",
)
# Methods of Database and Writer that run statements.
_RUNS_SQL = {"execute", "executemany", "query", "query_one", "changed"}


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py")
                  if STORE not in p.parents)


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and _STATEMENT.search(node.value):
            found.append(f"line {node.lineno}: SQL text {node.value[:60]!r}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _RUNS_SQL:
            found.append(f"line {node.lineno}: .{node.func.attr}(...) runs a statement")
    return found


def test_only_store_modules_speak_sql() -> None:
    offences = {str(p.relative_to(SRC)): found for p in _modules() if (found := _offences(p))}
    assert offences == {}, "SQL outside store/ (move it behind a store function): " + \
        "; ".join(f"{path}: {', '.join(lines)}" for path, lines in offences.items())


def test_the_check_sees_sql() -> None:
    """The detector itself: it must catch the shapes SQL took outside store/ before."""
    hits = [
        'db.query("SELECT id FROM projects WHERE name = ?", (name,))',
        'w.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ?", (now, rid))',
        'SQL = "INSERT INTO stat_cache (device) VALUES (?)"',
        'x = f"SELECT {cols} FROM predictions"',
        'w.executemany(sql, rows)',
    ]
    for source in hits:
        tree = ast.parse(source)
        assert any(
            (isinstance(n, ast.Constant) and isinstance(n.value, str)
             and _STATEMENT.search(n.value))
            or (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                and n.func.attr in _RUNS_SQL)
            for n in ast.walk(tree)), source
    prose = ["Select a run with cairn show", "a write (POST, PUT, PATCH, DELETE) is refused",
             "update the alias", "the runs to delete from the list"]
    assert not [text for text in prose if _STATEMENT.search(text)]
