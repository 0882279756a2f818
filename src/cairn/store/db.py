"""A thin, portable connection to the metadata database (SQLite or PostgreSQL).

The schema is defined and upgraded by Alembic migrations written with SQLAlchemy Core (see
``migrations/``). Queries at run time go through this DB-API wrapper instead of a SQLAlchemy
engine: importing SQLAlchemy alone takes about 0.23 s on the reference machine, most of the
0.3 s budget of ``cairn ls``, and ``import cairn`` must stay near free. The SQL written here is
the common subset of SQLite and PostgreSQL (``ON CONFLICT … DO UPDATE``, ``RETURNING``), with
``?`` placeholders translated once per statement for psycopg.

A database that cannot be used is ``StoreUnavailable`` with one sentence, on both dialects:
a file SQLite cannot open or read, a PostgreSQL server that refuses the connection or drops
it (restarted, or the backend terminated). A dropped connection is forgotten, so the next
statement of that thread connects again.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Literal

from cairn.errors import MissingExtra, StoreFull, StoreUnavailable

Dialect = Literal["sqlite", "postgresql"]
Row = tuple[Any, ...]

BUSY_TIMEOUT_MS = 60_000


@lru_cache(maxsize=512)
def _to_pyformat(sql: str) -> str:
    """Translate ``?`` placeholders to psycopg's ``%s`` (and escape literal ``%``)."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class Database:
    """One metadata database; connections are per thread, writes are explicit transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        is_pg = url.startswith(("postgresql", "postgres"))
        self.dialect: Dialect = "postgresql" if is_pg else "sqlite"
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    # -- connections -----------------------------------------------------------------------
    @property
    def sqlite_path(self) -> str:
        return self.url.removeprefix("sqlite:///")

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            try:
                conn = sqlite3.connect(
                    self.sqlite_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                    check_same_thread=False,
                )
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"cannot open the store {self.sqlite_path}: {exc}") from exc
            return conn
        try:
            import psycopg
        except ImportError as exc:
            raise MissingExtra("psycopg", "postgres") from exc
        url = self.url.replace("postgresql+psycopg://", "postgresql://")
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.Error as exc:
            first, *more = [line.strip() for line in str(exc).strip().splitlines()] or [""]
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {first}".strip(),
                                   hint=" ".join(more) or None) from exc

    @property
    def conn(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = self._connect()
            self._local.conn = conn
            self._local.pid = os.getpid()
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except Exception:
                    pass
            self._all.clear()
        self._local = threading.local()

    # -- statements ------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql if self.dialect == "sqlite" else _to_pyformat(sql)

    def _read_errors(self) -> tuple[type[BaseException], ...]:
        """What a read may raise that means the store cannot be used (any database error)."""
        if self.dialect == "sqlite":
            return (sqlite3.DatabaseError,)
        import psycopg

        return (psycopg.Error,)

    def _lost_errors(self) -> tuple[type[BaseException], ...]:
        """What a statement in a transaction may raise when the database itself fails (not
        when the statement is refused, as a unique key is: callers handle those)."""
        if self.dialect == "sqlite":
            return (sqlite3.OperationalError,)
        import psycopg

        return (psycopg.OperationalError, psycopg.InterfaceError)

    def unavailable(self, exc: BaseException, conn: Any) -> StoreUnavailable:
        """``exc`` as one sentence; a connection PostgreSQL closed is dropped for a new one.

        A full disk is ``StoreFull`` (exit 4, HTTP 507), so a push that fills the server's
        disk is told so rather than answered 500.
        """
        if _is_full(exc):
            return StoreFull("the metadata store has no space left: "
                             + (str(exc).strip().splitlines() or ["disk full"])[0],
                             hint="free space where the store lives, then try again")
        if self.dialect == "postgresql" and getattr(conn, "closed", False):
            self._forget(conn)
            return _unavailable(exc, hint="the PostgreSQL server closed the connection; "
                                          "cairn connects again on the next request")
        return _unavailable(exc)

    def _forget(self, conn: Any) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        if getattr(self._local, "conn", None) is conn:
            self._local.conn = None
        try:
            conn.close()
        except Exception:
            pass

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        conn = self.conn
        try:
            cur = conn.execute(self._sql(sql), tuple(params))
            return [tuple(r) for r in cur.fetchall()]
        except self._read_errors() as exc:
            raise self.unavailable(exc, conn) from exc

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def write(self) -> Iterator[Writer]:
        """A write transaction: SQLite takes the write lock at once (``BEGIN IMMEDIATE``)."""
        conn = self.conn
        begin = "BEGIN IMMEDIATE" if self.dialect == "sqlite" else "BEGIN"
        lost = self._lost_errors()
        try:
            conn.execute(begin)
        except lost as exc:
            raise self.unavailable(exc, conn) from exc
        try:
            yield Writer(self, conn)
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except Exception:
                pass
            if isinstance(exc, lost):
                raise self.unavailable(exc, conn) from exc
            raise
        else:
            try:
                conn.execute("COMMIT")
            except lost as exc:
                raise self.unavailable(exc, conn) from exc

    @property
    def is_integrity_error(self) -> tuple[type[BaseException], ...]:
        if self.dialect == "sqlite":
            return (sqlite3.IntegrityError,)
        import psycopg

        return (psycopg.errors.IntegrityError,)


class Writer:
    """Statements inside one write transaction."""

    def __init__(self, db: Database, conn: Any) -> None:
        self._db = db
        self._conn = conn

    @property
    def dialect(self) -> Dialect:
        return self._db.dialect

    @property
    def is_integrity_error(self) -> tuple[type[BaseException], ...]:
        return self._db.is_integrity_error

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A part of the transaction that can fail alone: on an error only its statements are
        undone and the transaction goes on (PostgreSQL otherwise refuses every later one)."""
        self._conn.execute("SAVEPOINT cairn_part")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK TO SAVEPOINT cairn_part")
            self._conn.execute("RELEASE SAVEPOINT cairn_part")
            raise
        self._conn.execute("RELEASE SAVEPOINT cairn_part")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = self._conn.execute(self._db._sql(sql), tuple(params))
        if cur.description is None:
            return []
        return [tuple(r) for r in cur.fetchall()]

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        """The first row a statement answers (a SELECT, or a write with RETURNING), if any."""
        rows = self.execute(sql, params)
        return rows[0] if rows else None

    def changed(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it inserted, updated or deleted."""
        return int(self._conn.execute(self._db._sql(sql), tuple(params)).rowcount)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._db.dialect == "sqlite":
            self._conn.executemany(sql, rows)
        else:
            with self._conn.cursor() as cur:
                cur.executemany(self._db._sql(sql), list(rows))


def _is_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, or PostgreSQL's disk_full (SQLSTATE 53100)."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return getattr(exc, "sqlstate", None) == "53100"


def _unavailable(exc: BaseException, hint: str | None = None) -> StoreUnavailable:
    """One line: psycopg's messages may go on with indented detail lines."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
    return StoreUnavailable(f"the metadata store cannot be used: {first}", hint=hint)
