"""Make a table refuse every insert, for real, to test what a failing write leaves behind."""

from __future__ import annotations

from cairn.store.db import Database


def refuse_inserts(db: Database, table: str) -> None:
    """From now on every insert into ``table`` fails the way a unique index refuses a row
    (an integrity error), in SQLite and PostgreSQL alike."""
    with db.write() as w:
        if db.dialect == "sqlite":
            w.execute(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                      "BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed (test)'); END")
        else:
            w.execute("CREATE OR REPLACE FUNCTION refuse_insert() RETURNS trigger AS "
                      "'BEGIN RAISE unique_violation USING MESSAGE = ''refused (test)''; END' "
                      "LANGUAGE plpgsql")
            w.execute(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                      "FOR EACH ROW EXECUTE FUNCTION refuse_insert()")
