"""Accounts and tokens, the model registry, and the prediction log.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.BigInteger  # milliseconds since the epoch, UTC


def upgrade() -> None:
    # -- accounts: users, hashed API tokens, roles per project, who wrote what ---------------
    op.create_table(
        "users",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("is_admin", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),  # never the token
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_used_at", TS),
        sa.Column("revoked_at", TS),
    )
    op.create_table(
        "project_roles",
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),  # reader | writer | admin
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("user_name", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.Text),
    )

    # -- model registry -------------------------------------------------------------------------
    op.create_table(
        "models",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(36), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_models_project_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("path", sa.Text, nullable=False),  # the model's artifact path in its run
        sa.Column("oid", sa.String(64), nullable=False),  # the model folder's tree oid
        sa.Column("flavor", sa.String(32)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("record", sa.Text),  # JSON: signature, comparison with production, …
    )
    op.create_table(
        "model_aliases",
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("alias", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("updated_by", sa.String(200)),
    )
    op.create_table(
        "alias_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("from_version", sa.Integer),
        sa.Column("to_version", sa.Integer),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(200)),
    )
    op.create_index("ix_alias_history_model", "alias_history", ["model_id", "alias", "id"])

    # -- prediction log and feedback ----------------------------------------------------------
    op.create_table(
        "predictions",
        sa.Column("id", sa.String(40), primary_key=True),  # p_<uuid7 hex>
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("inputs", sa.Text, nullable=False),  # JSON: one row (list or record)
        sa.Column("output", sa.Text, nullable=False),  # JSON: the prediction
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("label", sa.Text),  # JSON: ground truth from /feedback
        sa.Column("labelled_at", TS),
        sa.Column("feedback_count", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("ix_predictions_model_time", "predictions", ["model_id", "created_at"])
    op.create_index("ix_predictions_model_labelled", "predictions", ["model_id", "labelled_at"])


def downgrade() -> None:
    for table in ("predictions", "alias_history", "model_aliases", "model_versions", "models",
                  "audit_log", "project_roles", "tokens", "users"):
        op.drop_table(table)
