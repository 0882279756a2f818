"""The filter and sort language, compiled and run against a real database.

The database comes from one fixture, ``db``, built once per module for each backend: a SQLite
file, and a fresh database on the PostgreSQL test server (``pg_server`` in ``conftest.py``
skips without one). The filter tests only read, so they share it.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import FrozenInstanceError
from datetime import datetime
from typing import Any

import pytest

from cairn.errors import FilterSyntaxError, InvalidInput
from cairn.store.db import Database
from cairn.store.filter_parse import And, Compare, Field, Not, Or, parse_field
from cairn.store.migrate import ensure_schema
from cairn.store.query import FIELDS, compile_filter, compile_sort, parse_filter

S, M, H, D = 1000, 60_000, 3_600_000, 86_400_000


def local_ms(text: str) -> int:
    """Naive ISO times in filters are local time; the fixtures are written the same way."""
    return round(datetime.fromisoformat(text).astimezone().timestamp() * 1000)


NOW = local_ms("2026-12-01T12:00")
NAN = None  # latest_metrics stores NaN as NULL

# number: name, status, started_at, duration ms (None: still running), params, tags, metrics,
# verdict
RUNS: dict[int, tuple[Any, ...]] = {
    1: ("baseline", "finished", local_ms("2026-10-30T09:00"), M,
        {"lr": 0.1, "model": "rf", "depth": 5, "flag": True},
        {"team": "vision"}, {"acc": 0.91, "loss": 0.3}, None),
    2: ("rf-deep", "finished", local_ms("2026-10-31T12:00"), 2 * H,
        {"lr": 0.01, "model": "rf", "depth": 12}, {"team": "nlp"}, {"acc": 0.95, "loss": NAN},
        None),
    3: ("xgb-1", "failed", local_ms("2026-11-01T10:00"), 5 * M,
        {"lr": 0.001, "model": "xgb"}, {"team": "vision", "owner": "ana"}, {"acc": 0.5}, None),
    4: ("XGB-2", "finished", local_ms("2026-11-01T23:30"), S,
        {"lr": "fast", "model": "xgb"}, {}, {"acc": NAN}, None),
    5: ("mlp", "running", NOW - 2 * H, None,
        {"lr": 1e-4, "model": "mlp", "flag": False}, {"team": "vision"},
        {"acc": 0.7, "sys/cpu_percent": 55.0, "val acc": 0.66}, None),
    6: (None, "crashed", NOW - D, 30 * S, {"model": "rf"}, {"team": "Vision"}, {}, None),
    7: ("it's \"quoted\"", "killed", NOW - 3 * D, 45 * S,
        {"model.lr": 0.5, "model": "r f"}, {"team": "x' OR 1=1 --"}, {}, None),
    8: ("50% off", "finished", NOW - 10 * D, 10 * S, {"model": "rf"}, {},
        {"acc": 0.99, "loss": 0.01}, "match"),
    9: ("café", "finished", NOW - 8 * D, 30 * M, {"model": "café"}, {"model-type": "tree"},
        {"acc": 0.2}, "differ"),
    10: ("last", "finished", NOW - H, 90 * S, {"depth": 3, "lr": 0.05, "model": "xgb"},
         {"team": "nlp"}, {"acc": 0.91}, None),
}
ALL = sorted(RUNS)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _fill(db: Database, project: str) -> None:
    with db.write() as w:
        w.execute("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
                  (project, f"query-{project}", NOW))
        for number, (name, status, started, dur, params, tags, metrics, verdict) in RUNS.items():
            run_id = uuid.uuid4().hex
            ended = None if dur is None else started + dur
            w.execute("INSERT INTO runs (id, project_id, number, name, status, started_at, "
                      "ended_at, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                      (run_id, project, number, name, status, started, ended, verdict))
            for key, value in params.items():
                w.execute("INSERT INTO params (run_id, key, value, num) VALUES (?, ?, ?, ?)",
                          (run_id, key, json.dumps(value), _num(value)))
            for key, value in tags.items():
                w.execute("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)",
                          (run_id, key, value))
            for key, value in metrics.items():
                w.execute("INSERT INTO latest_metrics (run_id, key, step, value, time, count) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (run_id, key, 0, value, started, 1))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, str]]:
    """A migrated database holding ``RUNS`` in a fresh project: (database, project id)."""
    folder = tmp_path_factory.mktemp("query")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{folder}/c.db", None
    else:
        import psycopg

        server = request.getfixturevalue("pg_server")
        drop = f"cairn_q_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {drop}")
        url = f"{server.rsplit('/', 1)[0]}/{drop}"
    database = Database(url)
    ensure_schema(database, lock_dir=folder)
    project = uuid.uuid4().hex
    _fill(database, project)
    yield database, project
    database.close()
    if drop:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {drop} WITH (FORCE)")


def numbers(db: tuple[Database, str], expr: str) -> list[int]:
    database, project = db
    where, params = compile_filter(expr, now_ms=NOW)
    rows = database.query(f"SELECT r.number FROM runs r WHERE r.project_id = ? AND {where} "
                          "ORDER BY r.number", [project, *params])
    return [row[0] for row in rows]


def sorted_numbers(db: tuple[Database, str], key: str) -> list[int]:
    database, project = db
    order, params = compile_sort(key, now_ms=NOW)
    rows = database.query(f"SELECT r.number FROM runs r WHERE r.project_id = ? ORDER BY {order}",
                          [project, *params])
    return [row[0] for row in rows]


def but(*excluded: int) -> list[int]:
    return [n for n in ALL if n not in excluded]


CASES: list[tuple[str, list[int]]] = [
    ("", ALL),
    ("   ", ALL),
    # metrics: latest value; NaN is NULL and fails every ordering comparison
    ("metrics.acc > 0.9", [1, 2, 8, 10]),
    ("metrics.acc >= 0.91", [1, 2, 8, 10]),
    ("metrics.acc>0.9", [1, 2, 8, 10]),
    ("metrics.acc > 0", [1, 2, 3, 5, 8, 9, 10]),
    ("metrics.acc < 9.1e-1", [3, 5, 9]),
    ("metrics.acc = 0.5", [3]),
    ("metrics.acc != 0.5", [1, 2, 4, 5, 8, 9, 10]),
    ("metrics.acc = nan", [4]),
    ("metrics.acc != NaN", [1, 2, 3, 5, 8, 9, 10]),
    ("not metrics.acc > 0.9", [3, 4, 5, 6, 7, 9]),
    ("metrics.loss < 1", [1, 8]),
    ("metrics.loss > -1", [1, 8]),
    ("metrics.sys/cpu_percent > 50", [5]),
    ("metrics.`val acc` > 0.6", [5]),
    ("metrics.acc in (0.5, 0.2)", [3, 9]),
    ("metrics.acc not in (0.5, 0.2)", [1, 2, 4, 5, 8, 10]),
    ("metrics.missing > 0", []),
    # params: numbers on `num`, text as the JSON-encoded value
    ("params.lr < 0.05", [2, 3, 5]),
    ("params.lr <= 0.05", [2, 3, 5, 10]),
    ("params.lr = 1e-4", [5]),
    ("params.lr = 0.0001", [5]),
    ("params.lr != 0.1", [2, 3, 4, 5, 10]),
    ("params.lr = fast", [4]),
    ("not params.lr < 0.05", [1, 4, 6, 7, 8, 9, 10]),
    ("params.depth > 4 and params.depth < 12", [1]),
    ("params.depth in (3, 12)", [2, 10]),
    ("params.model = rf", [1, 2, 6, 8]),
    ("params.model == rf", [1, 2, 6, 8]),
    ("params.model = 'rf'", [1, 2, 6, 8]),
    ('params.model = "rf"', [1, 2, 6, 8]),
    ("params.model != rf", [3, 4, 5, 7, 9, 10]),
    ("params.model <> rf", [3, 4, 5, 7, 9, 10]),
    ('params.model = "r f"', [7]),
    ("params.model = café", [9]),
    ("params.model ~ GB", [3, 4, 10]),
    ("params.model !~ r", [3, 4, 5, 9, 10]),
    ("params.model in (mlp, 'r f')", [5, 7]),
    ("params.model not in (rf, xgb)", [5, 7, 9]),
    ("params.flag = true", [1]),
    ("params.flag = FALSE", [5]),
    ("params.flag != true", [5]),
    ('params.flag = "true"', []),
    ("params.model.lr = 0.5", [7]),
    ("params.missing = 1", []),
    # tags: plain text, exact and case-sensitive; `~` ignores case
    ("tags.team = vision", [1, 3, 5]),
    ("tags.team ~ VISION", [1, 3, 5, 6]),
    ("tags.team != vision", [2, 6, 7, 10]),
    ("not tags.team = vision", [2, 4, 6, 7, 8, 9, 10]),
    ("tags.team = \"x' OR 1=1 --\"", [7]),
    ("tags.team = 'x\\' OR 1=1 --'", [7]),
    ("tags.model-type = tree", [9]),
    ("tags.team in (nlp, Vision)", [2, 6, 10]),
    ("tags.team not in (nlp, vision)", [6, 7]),
    ("tags.owner ~ an", [3]),
    # run columns
    ("status = finished", [1, 2, 4, 8, 9, 10]),
    ("STATUS = Finished", [1, 2, 4, 8, 9, 10]),
    ("status != finished", [3, 5, 6, 7]),
    ("status in (failed, crashed)", [3, 6]),
    ("status not in (finished, running)", [3, 6, 7]),
    ("status ~ ed", [1, 2, 3, 4, 6, 7, 8, 9, 10]),
    ("name = baseline", [1]),
    ("name ~ XGB", [3, 4]),
    ("name ~ '50%'", [8]),
    ("name ~ '%'", [8]),
    ("name ~ _", []),
    ("name ~ é", [9]),
    ("name != baseline", [2, 3, 4, 5, 7, 8, 9, 10]),
    ("not name = baseline", but(1)),
    ("name = \"it's \\\"quoted\\\"\"", [7]),
    ("name = 'it\\'s \"quoted\"'", [7]),
    ("name ~ \"'\"", [7]),
    ("number >= 9", [9, 10]),
    ("number in (1, 3)", [1, 3]),
    ("number != 5", but(5)),
    ("number < 99999999999999999999999", ALL),
    ("(" * 64 + "number = 1" + ")" * 64, [1]),
    ("verdict = match", [8]),
    ("verdict != match", [9]),
    ("not verdict = match", but(8)),
    ("ended_at > 0", but(5)),
    ("not ended_at > 0", [5]),
    # precedence: not > and > or; parentheses
    ("params.model = rf or status = failed and tags.team = nlp", [1, 2, 6, 8]),
    ("(params.model = rf or status = failed) and tags.team = vision", [1, 3]),
    ("not status = finished and params.model = rf", [6]),
    ("not (status = finished and params.model = rf)", [3, 4, 5, 6, 7, 9, 10]),
    ("not not status = running", [5]),
    ("params.model = rf AND NOT status = crashed Or number = 3", [1, 2, 3, 8]),
    ("((number = 1) or ((number = 2)))", [1, 2]),
    ("number = 1 or number = 2 or number = 3 and status = finished", [1, 2]),
    # times: relative, ISO dates (whole days), ISO times, epoch ms
    ("started_at > -2d", [5, 6, 10]),
    ("started_at >= -90m", [10]),
    ("started_at < -7d", [1, 2, 3, 4, 8, 9]),
    ("started_at = 2026-11-01", [3, 4]),
    ("started_at != 2026-11-01", but(3, 4)),
    ("started_at < 2026-11-01", [1, 2]),
    ("started_at <= 2026-11-01", [1, 2, 3, 4]),
    ("started_at > 2026-11-01", [5, 6, 7, 8, 9, 10]),
    ("started_at >= '2026-11-01'", [3, 4, 5, 6, 7, 8, 9, 10]),
    ("started_at >= '2026-11-01T12:00'", [4, 5, 6, 7, 8, 9, 10]),
    ("started_at >= 2026-10-31T12:00 and started_at < 2026-11-01T11:00", [2, 3]),
    (f"started_at = {local_ms('2026-10-30T09:00')}", [1]),
    ("started_at > now", []),
    ("ended_at > -1h30m", [10]),
    # duration in seconds; a running run lasts until now
    ("duration > 1h", [2, 5]),
    ("duration >= 5m and duration < 1h", [3, 9]),
    ("duration < 60", [4, 6, 7, 8]),
    ("duration <= 1m", [1, 4, 6, 7, 8]),
    ("duration > 1m30s", [2, 3, 5, 9]),
    ("duration = 1.5m", [10]),
    ("duration < 2000ms", [4]),
]


@pytest.mark.parametrize(("expr", "expected"), CASES, ids=[c[0] or "blank" for c in CASES])
def test_filter_selects_runs(db: tuple[Database, str], expr: str, expected: list[int]) -> None:
    assert numbers(db, expr) == expected


@pytest.mark.parametrize("expr", [c[0] for c in CASES if c[0].strip()])
def test_values_only_travel_as_parameters(expr: str) -> None:
    sql, params = compile_filter(expr, now_ms=NOW)
    assert sql.count("?") == len(params)
    constant_free = sql.replace("ESCAPE '!'", "").replace("SELECT 1 ", "")
    assert not re.search(r"['\"\d]", constant_free), sql


def test_injection_stays_a_parameter(db: tuple[Database, str]) -> None:
    sql, params = compile_filter("name = \"x' OR 1=1 --\" or tags.team = 'a\"; DROP TABLE runs'")
    assert "OR 1=1" not in sql and "DROP" not in sql
    assert params == ["x' OR 1=1 --", "team", 'a"; DROP TABLE runs']
    assert numbers(db, "name = \"x' OR 1=1 --\"") == []
    assert numbers(db, "status = finished") == [1, 2, 4, 8, 9, 10]


def test_blank_compiles_to_true() -> None:
    assert compile_filter("") == ("1=1", [])
    assert compile_filter("  \t") == ("1=1", [])
    assert parse_filter("") == And(())


def test_tree_is_small_and_frozen() -> None:
    node = parse_filter("not metrics.acc > 0.9 and (tags.t = a or status in (failed, killed))")
    assert isinstance(node, And)
    first, second = node.items
    assert isinstance(first, Not) and isinstance(first.item, Compare)
    assert first.item.field == Field("metrics", "acc", 4)
    assert first.item.op == ">" and first.item.values[0].value == 0.9
    assert isinstance(second, Or)
    status = second.items[1]
    assert isinstance(status, Compare) and status.op == "in"
    assert [v.value for v in status.values] == ["failed", "killed"]
    with pytest.raises(FrozenInstanceError):
        first.item.op = "<"  # type: ignore[misc]


def test_values_are_typed() -> None:
    def value(text: str) -> Any:
        node = parse_filter(f"params.x = {text}")
        assert isinstance(node, Compare)
        return node.values[0].kind, node.values[0].value

    assert value("3") == ("number", 3)
    assert value("-3") == ("number", -3)
    assert value("2.5e3") == ("number", 2500.0)
    assert value(".5") == ("number", 0.5)
    assert value("'3'") == ("string", "3")
    assert value("True") == ("bool", True)
    assert value("rf") == ("word", "rf")
    assert value("-7d") == ("word", "-7d")
    assert value('"a\\tb"') == ("string", "a\tb")


def test_fields_are_listed() -> None:
    assert set(FIELDS) >= {"metrics", "params", "tags", "status", "name", "number",
                           "started_at", "ended_at", "duration", "verdict"}
    assert parse_field("metrics.`val acc`") == Field("metrics", "val acc", 0)


ERRORS: list[tuple[str, int, str]] = [
    ("metrics.acc >", 13, "expected a value after '>'"),
    ("metrics.acc >> 1", 13, "expected a value after '>'"),
    ("metrics.acc > 1)", 15, "unbalanced ')'"),
    ("(metrics.acc > 1", 16, "expected ')'"),
    ("((metrics.acc > 1) and (status = failed)", 40, "expected ')'"),
    ("stauts = finished", 0, "did you mean 'status'?"),
    ("metric.acc > 1", 0, "did you mean 'metrics.acc'?"),
    ("param.model = rf", 0, "did you mean 'params.model'?"),
    ("number > 1 and durration < 5", 15, "did you mean 'duration'?"),
    ("foo.bar = 1", 0, "unknown field 'foo.bar'"),
    ('name = "abc', 7, "unterminated string"),
    ("metrics.`val acc > 1", 8, "unterminated key"),
    ("metrics.acc > 1 status = x", 16, "join conditions with 'and' or 'or'"),
    ("metrics.acc = rf", 14, "compared with a number"),
    ("metrics.acc > nan", 14, "NaN"),
    ("metrics.acc ~ 1", 12, "'~' tests text"),
    ("started_at ~ 2026", 11, "'~' tests text"),
    ("params.lr > fast", 12, "not a number"),
    ("tags.team > 3", 12, "quote it"),
    ("status = finishd", 9, "did you mean 'finished'?"),
    ("status > finished", 7, "status is compared with"),
    ("metrics > 1", 0, "metrics needs a key"),
    ("metrics. > 1", 8, "metrics needs a key"),
    ("metrics.acc 0.5", 12, "expected an operator"),
    ("status in failed", 10, "expected '(' after 'in'"),
    ("status in (failed crashed)", 18, "expected ',' or ')'"),
    ("and", 0, "expected a field"),
    ("metrics.acc > 1 and", 19, "expected a field"),
    ("metrics.acc > 1 and or", 20, "expected a field"),
    ("name = abc #", 11, "unexpected '#'"),
    ("name ! x", 5, "'!' must be part of"),
    ("name = and", 7, "quote it"),
    ("started_at > yesterday", 13, "expected a time"),
    ("started_at > 7d", 13, "expected a time"),
    ("started_at = 2026-02-30", 13, "not a valid date"),
    ("duration > 5x", 11, "a duration is"),
    ("`val acc` > 1", 0, "needs its field first"),
    ("()", 1, "expected a field"),
    ("(" * 65 + "number = 1" + ")" * 65, 64, "nests deeper than 64"),
    ("not " * 70 + "number = 1", 256, "nests deeper than 64"),
]


@pytest.mark.parametrize(("expr", "position", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_name_the_column(expr: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_filter(expr, now_ms=NOW)
    assert info.value.position == position, info.value.message
    assert message in info.value.message
    assert info.value.expression == expr
    assert isinstance(info.value, InvalidInput)


SORTS: list[tuple[str, list[int]]] = [
    ("-metrics.acc", [8, 2, 10, 1, 5, 3, 9, 7, 6, 4]),
    ("metrics.acc", [9, 3, 5, 10, 1, 2, 8, 7, 6, 4]),
    ("+metrics.acc", [9, 3, 5, 10, 1, 2, 8, 7, 6, 4]),
    ("params.lr", [5, 3, 2, 10, 1, 4, 9, 8, 7, 6]),
    ("-params.depth", [2, 1, 10, 9, 8, 7, 6, 5, 4, 3]),
    ("-duration", [5, 2, 9, 3, 10, 1, 7, 6, 8, 4]),
    ("-started_at", [10, 5, 6, 7, 9, 8, 4, 3, 2, 1]),
    ("started_at", [1, 2, 3, 4, 8, 9, 7, 6, 5, 10]),
    ("number", ALL),
    ("-number", ALL[::-1]),
    ("verdict", [9, 8, 10, 7, 6, 5, 4, 3, 2, 1]),
    ("-tags.owner", [3, 10, 9, 8, 7, 6, 5, 4, 2, 1]),
]


@pytest.mark.parametrize(("key", "expected"), SORTS, ids=[s[0] for s in SORTS])
def test_sort_orders_runs(db: tuple[Database, str], key: str, expected: list[int]) -> None:
    assert sorted_numbers(db, key) == expected


def test_sort_sql_shape() -> None:
    sql, params = compile_sort("-metrics.acc")
    assert sql.endswith("DESC NULLS LAST, r.number DESC")
    assert params == ["acc"]
    assert compile_sort("number") == ("r.number ASC", [])
    assert compile_sort("-started_at") == ("r.started_at DESC, r.number DESC", [])


@pytest.mark.parametrize(("key", "position", "message"), [
    ("", 0, "expected a field name"),
    ("-", 1, "expected a field name"),
    ("-metric.acc", 1, "did you mean 'metrics.acc'?"),
    ("bogus", 0, "unknown field"),
    ("metrics.acc desc", 12, "unexpected 'desc' after the field"),
    (" -metrics.acc)", 13, "unbalanced"),
    ("tags", 0, "tags needs a key"),
])
def test_sort_errors(key: str, position: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        compile_sort(key)
    assert info.value.position == position
    assert message in info.value.message
    assert info.value.expression == key
