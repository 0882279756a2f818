"""The initial schema: projects, runs, params, tags, metrics, artifacts, lineage, stat cache.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.BigInteger  # milliseconds since the epoch, UTC


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),  # UUIDv7 hex: time-ordered
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("message", sa.Text),
        sa.Column("command", sa.Text),  # JSON list of argv, NULL for snapshots and SDK runs
        sa.Column("cwd", sa.Text),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("ended_at", TS),
        sa.Column("exit_code", sa.Integer),
        sa.Column("pid", sa.Integer),
        sa.Column("hostname", sa.String(255)),
        sa.Column("heartbeat_at", TS),
        sa.Column("created_by", sa.String(200)),
        sa.Column("record", sa.Text),  # JSON: code, env, host, … (large parts are objects)
        sa.Column("verdict", sa.String(16)),
        sa.UniqueConstraint("project_id", "number", name="uq_runs_project_number"),
    )
    op.create_index("ix_runs_project_started", "runs", ["project_id", "started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_name", "runs", ["project_id", "name"])

    op.create_table(
        "params",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),  # JSON-encoded
        sa.Column("num", sa.Float),  # the value as a number when it is one, for comparisons
    )
    op.create_index("ix_params_key_num", "params", ["key", "num"])
    op.create_table(
        "tags",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_index("ix_tags_key_value", "tags", ["key", "value"])

    # Metric history, one row per chunk of one series: packed little-endian arrays of
    # int64 steps, float64 values and int64 times (ms). See store/metrics.py.
    op.create_table(
        "metric_chunks",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("key", sa.String(250), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("step_min", sa.BigInteger, nullable=False),
        sa.Column("step_max", sa.BigInteger, nullable=False),
        sa.Column("steps", sa.LargeBinary, nullable=False),
        sa.Column("vals", sa.LargeBinary, nullable=False),
        sa.Column("times", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_metric_chunks_run_key", "metric_chunks", ["run_id", "key", "id"])
    op.create_table(
        "latest_metrics",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("key", sa.String(250), primary_key=True),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Float),  # NULL stands for NaN, which SQLite cannot store
        sa.Column("time", TS, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_latest_metrics_key_value", "latest_metrics", ["key", "value"])

    op.create_table(
        "artifacts",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),  # artifact|input|output|model|log
        sa.Column("path", sa.Text, primary_key=True),
        sa.Column("oid", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("is_tree", sa.Boolean, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_artifacts_oid", "artifacts", ["oid"])
    op.create_table(
        "lineage",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("relation", sa.String(16), primary_key=True),  # parent|forked_from|reproduces
        sa.Column("target_id", sa.String(32), nullable=False),
    )
    op.create_index("ix_lineage_target", "lineage", ["target_id"])
    op.create_table(
        "stat_cache",
        sa.Column("device", sa.BigInteger, primary_key=True),
        sa.Column("inode", sa.BigInteger, primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("mtime_ns", sa.BigInteger, nullable=False),
        sa.Column("oid", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    for table in ("stat_cache", "lineage", "artifacts", "latest_metrics", "metric_chunks",
                  "tags", "params", "runs", "projects"):
        op.drop_table(table)
