"""Compile the run filter and sort language to SQL that SQLite and PostgreSQL both run.

The parser (``store/filter_parse.py``) gives a small tree; this module turns it into one SQL
boolean expression over the runs table aliased ``r``, with every literal passed as a ``?``
parameter. Filtering never happens row by row in Python: a search over 100k runs must stay
under half a second, which only the database's indexes can give.

Semantics, chosen once for the CLI, the API and the web UI:

- A comparison on ``metrics.K``, ``params.K`` or ``tags.K`` holds only for runs that have the
  key (as in MLflow): ``tags.team != vision`` means "has a team tag, and it is not vision".
  ``not`` is the exact complement of what it wraps, so ``not tags.team = vision`` also matches
  runs without a team tag. Nullable run columns (``name``, ``ended_at``, ``verdict``,
  ``exit_code``, ``message``) behave the same way: a missing value matches no comparison.
- A metric's value is its latest one. NaN (stored as NULL) is never ``<``, ``>`` or ``=`` a
  number but is ``!=`` every number; ``metrics.loss = nan`` finds it.
- ``params.K`` compares numerically (on ``params.num``) when the literal is a number, and as
  the JSON text of the value otherwise: ``params.model = rf`` matches the stored ``"rf"``, and
  ``params.flag = true`` the stored ``true``. ``<``/``>`` on params need a number.
- ``~`` is a case-insensitive substring test; ``%`` and ``_`` in its value are plain text.
- ``started_at``/``ended_at`` take epoch milliseconds, ``now``, a relative time (``-7d``,
  ``-3h``: now minus that), or an ISO date or time (local time unless it names a zone). A bare
  date stands for the whole day: ``started_at = 2026-11-01`` is any time that day, ``>`` is
  after it and ``<=`` up to its end.
- ``duration`` is in seconds (``90``, ``5m``, ``1h30m``); a running run's lasts until now.

A keyed comparison is a correlated ``EXISTS`` probing the ``(run_id, key)`` primary key. With
``LIMIT`` and the usual newest-first order, SQLite walks runs by index and stops after the
limit, so a broad filter answers in milliseconds and a narrow one in one pass over the runs
(about 0.1 s per 100k); ``r.id IN (SELECT …)`` wins only for very narrow filters and loses up
to 50 times on broad ones (``benchmarks/filter_probe.py``).
"""

from __future__ import annotations

import difflib
import json
import math
import re
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from cairn.errors import FilterSyntaxError
from cairn.store.filter_parse import (
    FIELDS,
    And,
    Compare,
    Field,
    Node,
    Not,
    Or,
    Value,
    parse_field,
    parse_filter,
)

__all__ = ["FIELDS", "STATUSES", "compile_filter", "compile_sort", "parse_filter"]

STATUSES: tuple[str, ...] = ("running", "finished", "failed", "killed", "crashed")

Sql = tuple[str, list[Any]]

# The subquery per keyed field: its table alias and the column a comparison looks at.
_KEYED_TABLES = {"metrics": ("latest_metrics", "m"), "params": ("params", "p"),
                 "tags": ("tags", "t")}
_NULLABLE = {"name", "ended_at", "verdict", "exit_code", "message"}
_TEXT_COLUMNS = {"status", "name", "verdict", "message"}
_NUMERIC = {"metrics", "number", "exit_code", "started_at", "ended_at", "duration"}
_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ORDERING = {"<", "<=", ">", ">="}
_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+\Z")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}\Z")
_LIKE_ESCAPE = "!"
# Times a filter compares, in epoch ms: 0001-01-01 up to 9999-12-31 (what datetime can hold).
_MIN_MS, _MAX_MS = -62_135_596_800_000, 253_402_300_799_999
_INT64 = 2**63


def compile_filter(expr: str, *, now_ms: int | None = None) -> tuple[str, list[Any]]:
    """``expr`` as a SQL boolean over runs ``r`` and its parameters; blank gives ``1=1``."""
    node = parse_filter(expr)
    return _Compiler(expr, _now(now_ms)).node(node)


def compile_sort(key: str, *, now_ms: int | None = None) -> tuple[str, list[Any]]:
    """An ORDER BY list for ``--sort [-]KEY``: missing values last, then newest run first.

    ``NULLS LAST`` (SQLite 3.30+, PostgreSQL) evaluates a metric's subquery once per run, where
    the ``(expr IS NULL), expr`` idiom evaluates it twice (about 90 against 150 ms over 100k
    runs). Params sort by number first, then by their JSON text, then missing.
    """
    start = len(key) - len(key.lstrip())
    desc = key[start:start + 1] == "-"
    if key[start:start + 1] in ("-", "+"):
        start += 1
    field = parse_field(key, start)
    direction = "DESC" if desc else "ASC"
    if field.name == "number":
        return f"r.number {direction}", []
    exprs, params = _sort_exprs(field, _now(now_ms))
    nulls = " NULLS LAST" if field.key or field.name in _NULLABLE else ""
    parts = [f"{e} {direction}{nulls}" for e in exprs]
    return ", ".join([*parts, "r.number DESC"]), params


def _sort_exprs(field: Field, now_ms: int) -> tuple[list[str], list[Any]]:
    if field.key is not None:
        table, alias = _KEYED_TABLES[field.name]
        columns = {"metrics": ["value"], "params": ["num", "value"], "tags": ["value"]}
        exprs = [f"(SELECT {alias}.{col} FROM {table} {alias} WHERE {alias}.run_id = r.id "
                 f"AND {alias}.key = ?)" for col in columns[field.name]]
        return exprs, [field.key] * len(exprs)
    if field.name == "duration":
        return ["(COALESCE(r.ended_at, ?) - r.started_at)"], [now_ms]
    return [f"r.{field.name}"], []


def _now(now_ms: int | None) -> int:
    return int(time.time() * 1000) if now_ms is None else now_ms


class _Compiler:
    """Walks the tree; each method returns SQL text with the parameters of its ``?``s, in order."""

    def __init__(self, expr: str, now_ms: int) -> None:
        self.expr = expr
        self.now_ms = now_ms

    def error(self, message: str, pos: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, expression=self.expr, position=pos)

    def node(self, node: Node) -> Sql:
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, Not):
            sql, params = self.node(node.item)
            return f"NOT ({sql})", params
        if not node.items:
            return "1=1", []
        joiner = " AND " if isinstance(node, And) else " OR "
        assert isinstance(node, And | Or)
        return _join([self.node(item) for item in node.items], joiner)

    def compare(self, cmp: Compare) -> Sql:
        field = cmp.field
        if cmp.op in ("~", "!~") and field.name in _NUMERIC:
            raise self.error(f"{cmp.op!r} tests text; {field.name} takes =, !=, <, <=, >, >=",
                             cmp.pos)
        if cmp.op in _ORDERING and field.name == "status":
            raise self.error(f"status is compared with =, !=, ~ or in, not {cmp.op!r}", cmp.pos)
        if cmp.op in ("in", "not in"):
            # ``not in`` is a chain of ``!=``, so it keeps their meaning for NaN and text params.
            eq, joiner = ("=", " OR ") if cmp.op == "in" else ("!=", " AND ")
            pred = _join([self.predicate(field, eq, v) for v in cmp.values], joiner)
        else:
            pred = self.predicate(field, cmp.op, cmp.values[0])
        if field.key is None:
            sql, params = pred
            if field.name in _NULLABLE:
                return f"(r.{field.name} IS NOT NULL AND {sql})", params
            return sql, params
        table, alias = _KEYED_TABLES[field.name]
        return (f"EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.run_id = r.id "
                f"AND {alias}.key = ? AND {pred[0]})", [field.key, *pred[1]])

    def predicate(self, field: Field, op: str, value: Value) -> Sql:
        name = field.name
        if name == "metrics":
            return self.metric(op, value)
        if name == "params":
            return self.param(op, value)
        if name == "tags":
            return self.text("t.value", op, value, ordering_numbers=False)
        if name in ("number", "exit_code"):
            return self.numeric(f"r.{name}", op, self.number(value, name))
        if name in ("started_at", "ended_at"):
            return self.time(f"r.{name}", op, value)
        if name == "duration":
            sql, params = self.numeric("(COALESCE(r.ended_at, ?) - r.started_at)", op,
                                       self.duration_ms(value))
            return sql, [self.now_ms, *params]
        if name == "status":
            return self.status(op, value)
        assert name in _TEXT_COLUMNS
        return self.text(f"r.{name}", op, value, ordering_numbers=True)

    # -- by kind of column ---------------------------------------------------------------------
    def metric(self, op: str, value: Value) -> Sql:
        if value.kind == "word" and str(value.value).lower() == "nan":
            if op in ("=", "!="):
                return f"m.value IS {'' if op == '=' else 'NOT '}NULL", []
            raise self.error("NaN is only compared with = or !=", value.pos)
        number = self.number(value, "a metric")
        if op == "!=":  # NaN differs from every number
            return "(m.value IS NULL OR m.value <> ?)", [number]
        return self.numeric("m.value", op, number)

    def param(self, op: str, value: Value) -> Sql:
        if value.kind == "number" and op not in ("~", "!~"):
            if op == "!=":  # a text param is also "not equal" to a number
                return "(p.num IS NULL OR p.num <> ?)", [value.value]
            return f"p.num {_SQL_OPS[op]} ?", [value.value]
        if op in ("~", "!~"):
            return self.like("p.value", op, value.text)
        if op in _ORDERING:
            raise self.error(f"params are compared with {op!r} as numbers; "
                             f"{value.text!r} is not a number", value.pos)
        if value.kind == "bool":
            encoded = ["true" if value.value else "false"]
        else:
            text = str(value.value)
            encoded = list(dict.fromkeys([json.dumps(text), json.dumps(text, ensure_ascii=False)]))
        marks = ", ".join("?" * len(encoded))
        return f"p.value {'NOT ' if op == '!=' else ''}IN ({marks})", encoded

    def text(self, column: str, op: str, value: Value, *, ordering_numbers: bool) -> Sql:
        text = value.text
        if op in ("~", "!~"):
            return self.like(column, op, text)
        if op in _ORDERING and value.kind == "number" and not ordering_numbers:
            raise self.error(f"tags are text, so {op!r} would compare {value.text!r} as text; "
                             f"quote it if that is meant", value.pos)
        return f"{column} {_SQL_OPS[op]} ?", [text]

    def status(self, op: str, value: Value) -> Sql:
        if op in ("~", "!~"):
            return self.like("r.status", op, value.text)
        status = value.text.lower()
        if status not in STATUSES:
            close = difflib.get_close_matches(status, STATUSES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; one of {', '.join(STATUSES)}"
            raise self.error(f"unknown status {value.text!r}{hint}", value.pos)
        return f"r.status {_SQL_OPS[op]} ?", [status]

    def numeric(self, column: str, op: str, number: float | int) -> Sql:
        return f"{column} {_SQL_OPS[op]} ?", [number]

    def like(self, column: str, op: str, text: str) -> Sql:
        escaped = re.sub(r"[!%_]", lambda m: _LIKE_ESCAPE + m.group(0), text)
        negate = "NOT " if op == "!~" else ""
        return (f"LOWER({column}) {negate}LIKE LOWER(?) ESCAPE '{_LIKE_ESCAPE}'",
                [f"%{escaped}%"])

    def time(self, column: str, op: str, value: Value) -> Sql:
        try:
            start, end = self.instant(value)
        except (OverflowError, ValueError, OSError):
            start, end = _MAX_MS + 2, None  # past datetime's range, as reported just below
        if not all(_MIN_MS <= t <= _MAX_MS + 1 for t in (start, end) if t is not None):
            raise self.error(f"{value.text!r} is outside the times a filter compares "
                             f"(years 1 to 9999)", value.pos)
        if end is None:
            return f"{column} {_SQL_OPS[op]} ?", [start]
        # A bare date is the half-open interval [start, end) of that whole day.
        return {
            "=": (f"({column} >= ? AND {column} < ?)", [start, end]),
            "!=": (f"({column} < ? OR {column} >= ?)", [start, end]),
            "<": (f"{column} < ?", [start]),
            "<=": (f"{column} < ?", [end]),
            ">": (f"{column} >= ?", [end]),
            ">=": (f"{column} >= ?", [start]),
        }[op]

    # -- literals ------------------------------------------------------------------------------
    def number(self, value: Value, what: str) -> float | int:
        if value.kind != "number":
            raise self.error(f"{what} is compared with a number, not {value.text!r}", value.pos)
        assert isinstance(value.value, int | float)
        return value.value

    def duration_ms(self, value: Value) -> float | int:
        if value.kind == "number":
            assert isinstance(value.value, int | float)
            return _int_if_whole(value.value * 1000)
        seconds = _duration_s(value.text)
        if seconds is None:
            raise self.error(f"a duration is seconds or a form like 90s, 5m, 2h, 1h30m, "
                             f"not {value.text!r}", value.pos)
        return _int_if_whole(seconds * 1000)

    def instant(self, value: Value) -> tuple[int, int | None]:
        """A time literal as epoch ms; a bare date also gives the end of its day."""
        if value.kind == "number":
            assert isinstance(value.value, int | float)
            if not math.isfinite(value.value):
                raise ValueError("not a finite time")
            return int(value.value), None
        text = value.text.strip()
        if text.lower() == "now":
            return self.now_ms, None
        if text[:1] in ("-", "+") and (seconds := _duration_s(text[1:])) is not None:
            sign = -1 if text[0] == "-" else 1
            return self.now_ms + sign * round(seconds * 1000), None
        if _DATE.match(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                raise self.error(f"{text!r} is not a valid date", value.pos) from None
            return _local_ms(day), _local_ms(day + timedelta(days=1))
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise self.error(f"expected a time such as 2026-11-01, 2026-11-01T10:00 or -7d, "
                             f"not {text!r}", value.pos) from None
        return round(moment.astimezone().timestamp() * 1000), None


def _join(parts: Sequence[Sql], joiner: str) -> Sql:
    if len(parts) == 1:
        return parts[0]
    params: list[Any] = []
    for _, p in parts:
        params.extend(p)
    return "(" + joiner.join(sql for sql, _ in parts) + ")", params


def _duration_s(text: str) -> float | None:
    if not _DURATION.match(text):
        return None
    return sum(float(n) * _UNITS_S[unit] for n, unit in _DURATION_PART.findall(text))


def _local_ms(day: date) -> int:
    midnight = datetime(day.year, day.month, day.day).astimezone()
    return round(midnight.timestamp() * 1000)


def _int_if_whole(x: float | int) -> float | int:
    """A whole number as an int when a database integer (64 bits) can hold it."""
    return int(x) if float(x).is_integer() and -_INT64 <= x < _INT64 else x
