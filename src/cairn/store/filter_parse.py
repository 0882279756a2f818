r"""Tokenizer and recursive-descent parser for the run filter language.

One small language selects runs everywhere (``cairn ls --filter``, the REST API, the web UI)::

    metrics.acc > 0.9 and params.model = "rf" and status = finished and tags.team = vision

Grammar (EBNF; keywords are case-insensitive, ``not`` binds tighter than ``and``, which binds
tighter than ``or``)::

    filter     = [ or_expr ] ;                      (* blank: every run *)
    or_expr    = and_expr { "or" and_expr } ;
    and_expr   = not_expr { "and" not_expr } ;
    not_expr   = "not" not_expr | "(" or_expr ")" | comparison ;
    comparison = field op value | field [ "not" ] "in" "(" value { "," value } [ "," ] ")" ;
    field      = NAME | ( "metrics" | "params" | "tags" ) "." ( BARE | "`" text "`" ) ;
    op         = "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "~" | "!~" ;
    value      = NUMBER | STRING | BARE | "true" | "false" ;
    NUMBER     = [ "+" | "-" ] ( digits [ "." [ digits ] ] | "." digits ) [ exponent ] ;
    STRING     = "'" text "'" | '"' text '"' ;      (* backslash escapes \\ \' \" \n \t *)
    BARE       = { letter | digit | "_" | "." | "-" | "/" | ":" | "+" | "@" } ;
                                                    (* but not and, or, not, in *)

A bare word is one maximal run of the ``BARE`` characters, so keys may hold dots, dashes and
slashes (``metrics.sys/cpu_percent``) and values such as ``-7d``, ``2026-11-01T10:00`` or
``1e-3`` need no quotes. What a value *means* (a number, a date, a duration) depends on the
field it is compared with, which is the compiler's business (``store/query.py``); the parser
only checks the shape of the expression and the field names.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal as TypingLiteral

from cairn._util.text import bad_text, displayable
from cairn.errors import FilterSyntaxError

#: Fields that take a key after a dot: ``metrics.acc``, ``params.lr``, ``tags.team``.
KEYED_FIELDS: tuple[str, ...] = ("metrics", "params", "tags")
#: Columns of the run itself.
RUN_FIELDS: tuple[str, ...] = (
    "status", "name", "number", "started_at", "ended_at", "duration", "verdict", "exit_code",
    "message",
)
#: Every valid top-level field name, for help texts and suggestions.
FIELDS: tuple[str, ...] = KEYED_FIELDS + RUN_FIELDS

OPERATORS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "not in")
_OP_ALIASES = {"==": "=", "<>": "!="}
MAX_DEPTH = 64
# Levels of ``not`` and of parenthesised ``and``/``or`` that reach the SQL: SQLite's parser
# stack overflows near 50 levels of ``NOT (…)``, which it reported as an unusable store.
MAX_SQL_DEPTH = 20
# Beyond these a filter is refused before SQL is made of it: SQLite's expression trees stop at
# 1,000 levels (a long chain of ``or`` is that deep), and no one types 8,000 characters.
MAX_LENGTH = 8000
MAX_TERMS = 250  # comparisons plus the values of ``in`` lists
_INT64 = 2**63
_KEYWORDS = frozenset({"and", "or", "not", "in"})
# A few names people bring from other tools, answered with the cairn spelling.
_ALIASES = {"metric": "metrics", "param": "params", "tag": "tags", "state": "status",
            "start": "started_at", "end": "ended_at", "created": "started_at",
            "start_time": "started_at", "end_time": "ended_at", "run_name": "name"}

Op = TypingLiteral["=", "!=", "<", "<=", ">", ">=", "~", "!~", "in", "not in"]
ValueKind = TypingLiteral["number", "string", "word", "bool"]


# -- the syntax tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Field:
    """``name`` is one of ``FIELDS``; ``key`` is set for metrics, params and tags."""

    name: str
    key: str | None
    pos: int


@dataclass(frozen=True)
class Value:
    """A literal as written: ``text`` is kept so the compiler can read ``-7d`` or ``5m``."""

    kind: ValueKind
    value: float | int | str | bool
    text: str
    pos: int


@dataclass(frozen=True)
class Compare:
    field: Field
    op: Op
    values: tuple[Value, ...]  # one value, or the list of ``in (…)``
    pos: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | And | Or | Not


# -- tokens ------------------------------------------------------------------------------------
TokKind = TypingLiteral["bare", "string", "backtick", "op", "(", ")", ",", "end"]


@dataclass(frozen=True)
class Token:
    kind: TokKind
    text: str  # the decoded text (strings without quotes, escapes resolved)
    pos: int
    end: int


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z", re.ASCII)
_INTEGER = re.compile(r"[+-]?\d+\Z", re.ASCII)
_TWO_CHAR_OPS = ("==", "!=", "<>", "<=", ">=", "!~")
_ONE_CHAR_OPS = "=<>~"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _is_bare(ch: str) -> bool:
    return ch.isalnum() or ch in "_.-/:+@"


def tokenize(expr: str, start: int = 0) -> list[Token]:
    """Split ``expr[start:]`` into tokens; an unterminated quote is reported where it opens."""
    tokens: list[Token] = []
    i, n = start, len(expr)
    while i < n:
        ch = expr[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i, i + 1))  # type: ignore[arg-type]
            i += 1
        elif expr.startswith(_TWO_CHAR_OPS, i):
            tokens.append(Token("op", expr[i:i + 2], i, i + 2))
            i += 2
        elif ch in _ONE_CHAR_OPS:
            tokens.append(Token("op", ch, i, i + 1))
            i += 1
        elif ch in "'\"`":
            text, end = _read_quoted(expr, i)
            tokens.append(Token("backtick" if ch == "`" else "string", text, i, end))
            i = end
        elif _is_bare(ch):
            start = i
            while i < n and _is_bare(expr[i]):
                i += 1
            tokens.append(Token("bare", expr[start:i], start, i))
        else:
            what = "'!' must be part of '!=' or '!~'" if ch == "!" else f"unexpected {ch!r}"
            raise FilterSyntaxError(what, expression=expr, position=i)
    tokens.append(Token("end", "", n, n))
    return tokens


def _read_quoted(expr: str, start: int) -> tuple[str, int]:
    quote = expr[start]
    out: list[str] = []
    i = start + 1
    while i < len(expr):
        ch = expr[i]
        if ch == "\\" and i + 1 < len(expr):
            nxt = expr[i + 1]
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    what = "key" if quote == "`" else "string"
    raise FilterSyntaxError(f"unterminated {what} (missing {quote})", expression=expr,
                            position=start)


# -- parser ------------------------------------------------------------------------------------
def parse_filter(expr: str) -> Node:
    """Parse a filter expression; a blank one is the empty ``And``, which every run matches."""
    return _Parser(expr).parse()


def parse_field(text: str, start: int = 0) -> Field:
    """Parse a lone field name in ``text[start:]``, as ``--sort`` takes it (``metrics.acc``)."""
    parser = _Parser(text, start)
    if parser.peek.kind == "end":
        raise FilterSyntaxError("expected a field name", expression=text,
                                position=parser.peek.pos if text.strip() else start)
    field = parser.field()
    parser.expect_end(what="after the field")
    return field


class _Parser:
    def __init__(self, expr: str, start: int = 0) -> None:
        self.expr = expr
        if len(expr) > MAX_LENGTH:
            raise FilterSyntaxError(f"the filter is longer than {MAX_LENGTH:,} characters",
                                    expression=expr[:60] + "…", position=0)
        problem = bad_text(expr)
        if problem is not None:
            raise FilterSyntaxError(f"the filter {problem}", expression=displayable(expr),
                                    position=0)
        self.tokens = tokenize(expr, start)
        self.i = 0
        self.depth = 0
        self.terms = 0

    def count_term(self, pos: int) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"the filter has more than {MAX_TERMS} comparisons and 'in' "
                             f"values", pos)

    # helpers
    @property
    def peek(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def error(self, message: str, pos: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, expression=self.expr, position=pos)

    def is_keyword(self, word: str, tok: Token | None = None) -> bool:
        tok = tok or self.peek
        return tok.kind == "bare" and tok.text.lower() == word

    def describe(self, tok: Token) -> str:
        return "the end of the filter" if tok.kind == "end" else repr(self.expr[tok.pos:tok.end])

    def expect_end(self, what: str = "") -> None:
        tok = self.peek
        if tok.kind == ")":
            raise self.error("unbalanced ')'", tok.pos)
        if tok.kind != "end":
            hint = "; join conditions with 'and' or 'or'" if tok.kind == "bare" and not what else ""
            raise self.error(f"unexpected {self.describe(tok)} {what}".rstrip() + hint, tok.pos)

    # grammar
    def parse(self) -> Node:
        if self.peek.kind == "end":
            return And(())
        node = self.or_expr()
        self.expect_end()
        if _sql_depth(node) > MAX_SQL_DEPTH:
            raise self.error(f"the filter nests 'not' and groups of 'and'/'or' deeper than "
                             f"{MAX_SQL_DEPTH} levels", 0)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.is_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.is_keyword("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        tok = self.peek
        if tok.kind == "(" or self.is_keyword("not"):
            # Deep nesting would end in Python's RecursionError (and SQLite's depth limit).
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(f"the filter nests deeper than {MAX_DEPTH} levels", tok.pos)
        if self.is_keyword("not"):
            self.advance()
            node: Node = Not(self.not_expr())
        elif tok.kind == "(":
            self.advance()
            node = self.or_expr()
            close = self.peek
            if close.kind != ")":
                raise self.error(f"expected ')' (for the '(' at column {tok.pos + 1}), "
                                 f"found {self.describe(close)}", close.pos)
            self.advance()
        else:
            return self.comparison()
        self.depth -= 1
        return node

    def comparison(self) -> Compare:
        self.count_term(self.peek.pos)
        field = self.field()
        tok = self.peek
        if self.is_keyword("in") or (self.is_keyword("not")
                                     and self.is_keyword("in", self.tokens[self.i + 1])):
            op: Op = "not in" if self.advance().text.lower() == "not" else "in"
            if op == "not in":
                self.advance()
            return Compare(field, op, self.value_list(), tok.pos)
        if tok.kind != "op":
            raise self.error(f"expected an operator ({', '.join(OPERATORS)}) after "
                             f"{self.expr[field.pos:tok.pos].strip()!r}, found "
                             f"{self.describe(tok)}", tok.pos)
        self.advance()
        text = _OP_ALIASES.get(tok.text, tok.text)
        return Compare(field, text, (self.value(tok),), tok.pos)  # type: ignore[arg-type]

    def field(self) -> Field:
        tok = self.advance()
        if tok.kind == "backtick":
            raise self.error("a backtick-quoted key needs its field first, e.g. "
                             "metrics.`val acc`", tok.pos)
        if tok.kind != "bare" or tok.text.lower() in _KEYWORDS:
            raise self.error(f"expected a field such as metrics.acc or status, found "
                             f"{self.describe(tok)}", tok.pos)
        head, dot, key = tok.text.partition(".")
        name = head.lower()
        if name in KEYED_FIELDS:
            nxt = self.peek
            if not key and dot and nxt.kind == "backtick" and nxt.pos == tok.end:
                self.advance()
                key = nxt.text
            if not key:
                raise self.error(f"{name} needs a key, e.g. {name}.acc",
                                 tok.end if dot else tok.pos)
            return Field(name, key, tok.pos)
        if name in RUN_FIELDS and not dot:
            return Field(name, None, tok.pos)
        raise self.error(_unknown_field(tok.text), tok.pos)

    def value(self, op: Token) -> Value:
        tok = self.peek
        if tok.kind == "string":
            self.advance()
            return Value("string", tok.text, tok.text, tok.pos)
        if tok.kind == "bare" and tok.text.lower() not in _KEYWORDS:
            self.advance()
            return _bare_value(tok)
        after = f" after {op.text!r}" if op.kind == "op" else ""
        quote = "; quote it to use it as text" if tok.kind == "bare" else ""
        raise self.error(f"expected a value{after}, found {self.describe(tok)}{quote}", tok.pos)

    def value_list(self) -> tuple[Value, ...]:
        open_ = self.advance()
        if open_.kind != "(":
            raise self.error("expected '(' after 'in', e.g. status in (failed, crashed)",
                             open_.pos)
        values = [self.value(open_)]
        while self.peek.kind == ",":
            comma = self.advance()
            if self.tokens[self.i].kind == ")":  # a trailing comma is allowed
                break
            self.count_term(comma.pos)
            values.append(self.value(comma))
        close = self.peek
        if close.kind != ")":
            raise self.error(f"expected ',' or ')' in the 'in' list, found "
                             f"{self.describe(close)}", close.pos)
        self.advance()
        return tuple(values)


def _sql_depth(node: Node) -> int:
    """How deep the SQL made of ``node`` nests (the tree is at most ``MAX_DEPTH`` deep)."""
    if isinstance(node, Compare):
        return 1
    if isinstance(node, Not):
        return 1 + _sql_depth(node.item)
    return 1 + max((_sql_depth(item) for item in node.items), default=0)


def _bare_value(tok: Token) -> Value:
    text = tok.text
    if _NUMBER.match(text):
        number: int | float = int(text) if _INTEGER.match(text) else float(text)
        if isinstance(number, int) and not -_INT64 <= number < _INT64:
            number = float(number)  # a database integer holds 64 bits
        return Value("number", number, text, tok.pos)
    if text.lower() in ("true", "false"):
        return Value("bool", text.lower() == "true", text, tok.pos)
    return Value("word", text, text, tok.pos)


def _unknown_field(text: str) -> str:
    """Name the closest valid field, keeping the key: ``metric.acc`` → ``metrics.acc``."""
    head, dot, key = text.partition(".")
    lowered = head.lower()
    guess = _ALIASES.get(lowered)
    if guess is None:
        pool = KEYED_FIELDS if dot else FIELDS
        close = difflib.get_close_matches(lowered, pool, n=1, cutoff=0.6)
        guess = close[0] if close else None
    if guess is None and dot:
        # ``foo.bar``: the user may have meant a key of one of the keyed fields.
        return f"unknown field {text!r}; fields with keys are metrics.KEY, params.KEY, tags.KEY"
    if guess is None:
        return f"unknown field {text!r}; valid fields are {', '.join(FIELDS)}"
    suggestion = f"{guess}.{key}" if guess in KEYED_FIELDS and key else guess
    return f"unknown field {text!r} (did you mean {suggestion!r}?)"


def field_text(kind: str, key: str) -> str:
    """``kind.key`` as the filter language reads it, quoting keys it could not read bare."""
    bare = key and all(ch.isalnum() or ch in "_.-/:+@" for ch in key)
    if bare and key.lower() not in {"and", "or", "not", "in"}:
        return f"{kind}.{key}"
    escaped = key.replace("\\", "\\\\").replace("`", "\\`")
    return f"{kind}.`{escaped}`"
