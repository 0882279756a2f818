"""Time compiled run filters and sorts over 100,000 runs in SQLite.

Fills a fresh SQLite store (runs × 5 params × 3 metrics, a tag on most runs), then times the
query ``cairn ls --filter F --sort S --limit 1000`` issues, printing the plan of each::

    .venv/bin/python benchmarks/filter_probe.py [--runs 100000] [--db PATH] [--plan]
    .venv/bin/python benchmarks/filter_probe.py --url postgresql://…   # an empty database

The target is 0.5 s per query (SPEC.md, "filtered search over 100k runs").
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from cairn.store.db import Database
from cairn.store.migrate import ensure_schema
from cairn.store.query import compile_filter, compile_sort

CASES: list[tuple[str, str]] = [
    ("", "-started_at"),
    ("metrics.acc > 0.5", "-started_at"),
    ("metrics.acc > 0.5", "-number"),
    ("metrics.acc > 0.999", "-started_at"),
    ("metrics.acc > 0.5", "-metrics.acc"),
    ("metrics.acc > 0.5", "metrics.loss"),
    ("params.model = rf and metrics.acc > 0.9", "-started_at"),
    ("params.lr < 0.001", "-started_at"),
    ("params.lr < 0.001", "params.lr"),
    ("tags.team = vision or status = failed", "-started_at"),
    ("not tags.team = vision and status in (failed, crashed)", "-started_at"),
    ("name ~ 99 and started_at > -30d", "-started_at"),
    ("duration > 1h", "-duration"),
    ("metrics.loss = nan", "-started_at"),
    ("", "-metrics.acc"),
    ("", "tags.team"),
]
PROJECT = "p" * 32
NOW_MS = 1_800_000_000_000


def fill(db: Database, n: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    runs, params, tags, metrics = [], [], [], []
    for i in range(1, n + 1):
        run_id = f"{i:032x}"
        started = NOW_MS - (n - i) * 60_000
        status = rnd.choices(("finished", "failed", "crashed", "killed", "running"),
                             (90, 5, 2, 2, 1))[0]
        ended = None if status == "running" else started + rnd.randint(1_000, 7_200_000)
        runs.append((run_id, PROJECT, i, f"run-{i}", status, started, ended))
        values = {"lr": 10 ** rnd.uniform(-5, -1), "model": rnd.choice(("rf", "xgb", "mlp")),
                  "depth": rnd.randint(1, 12), "seed": i, "early_stop": rnd.random() < 0.5}
        for key, value in values.items():
            num = float(value) if isinstance(value, int | float) and value is not True \
                and value is not False else None
            params.append((run_id, key, json.dumps(value), num))
        if rnd.random() < 0.8:
            tags.append((run_id, "team", rnd.choice(("vision", "nlp", "tabular", "speech"))))
        loss = None if rnd.random() < 0.01 else rnd.uniform(0, 3)
        for key, value in (("acc", rnd.random()), ("loss", loss), ("sys/cpu", rnd.random())):
            metrics.append((run_id, key, 100, value, started, 100))
    with db.write() as w:
        w.execute("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
                  (PROJECT, "probe", NOW_MS))
        w.executemany("INSERT INTO runs (id, project_id, number, name, status, started_at, "
                      "ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)", runs)
        w.executemany("INSERT INTO params (run_id, key, value, num) VALUES (?, ?, ?, ?)", params)
        w.executemany("INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)", tags)
        w.executemany("INSERT INTO latest_metrics (run_id, key, step, value, time, count) "
                      "VALUES (?, ?, ?, ?, ?, ?)", metrics)
    db.conn.execute("ANALYZE")


def ls_query(flt: str, sort: str, limit: int) -> tuple[str, list[object]]:
    where, wparams = compile_filter(flt, now_ms=NOW_MS)
    order, oparams = compile_sort(sort, now_ms=NOW_MS)
    sql = (f"SELECT r.id, r.number, r.name, r.status, r.started_at, r.ended_at FROM runs r "
           f"WHERE r.project_id = ? AND {where} ORDER BY {order} LIMIT ?")
    return sql, [PROJECT, *wparams, *oparams, limit]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100_000)
    ap.add_argument("--db", type=Path, help="reuse or create this SQLite file")
    ap.add_argument("--limit", type=int, default=1000)
    ap.add_argument("--url", help="a database URL instead of a SQLite file (PostgreSQL)")
    ap.add_argument("--plan", action="store_true", help="print the query plan")
    args = ap.parse_args()
    path = args.db or Path(tempfile.mkdtemp()) / "probe.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(args.url or f"sqlite:///{path}")
    ensure_schema(db, lock_dir=path.parent)
    if not db.query("SELECT 1 FROM runs LIMIT 1"):
        t0 = time.perf_counter()
        fill(db, args.runs)
        print(f"filled {args.runs} runs in {time.perf_counter() - t0:.1f} s ({db.url})")
    print(f"{'ms':>8} {'rows':>6}  filter | sort")
    for flt, sort in CASES:
        sql, params = ls_query(flt, sort, args.limit)
        db.query(sql, params)  # warm the page cache, as a second `cairn ls` would find it
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            rows = db.query(sql, params)
            best = min(best, time.perf_counter() - t0)
        print(f"{best * 1000:8.1f} {len(rows):6d}  {flt or '(none)'} | {sort}")
        if args.plan:
            explain = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
            for row in db.query(explain + sql, params):
                print("          ", row[-1])


if __name__ == "__main__":
    main()
