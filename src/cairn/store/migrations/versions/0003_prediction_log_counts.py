"""The prediction log at scale: counts kept as it is written, labelled rows indexed apart.

``/monitor`` asked the log for its counts (``COUNT(*)``, ``SUM(feedback_count)`` …) and for
the newest labelled predictions; both scanned every prediction of the model, about 0.4 s a
million rows each. Counts per model version now live in ``prediction_stats``, updated in the
same transactions that write predictions and labels, and labelled predictions have a partial
index of their own, in time order. It replaces the ``(model_id, labelled_at)`` index, which
every prediction paid for at insert time although it is unlabelled then.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.BigInteger  # milliseconds since the epoch, UTC
LABELLED = sa.text("labelled_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "prediction_stats",
        sa.Column("model_id", sa.String(32), sa.ForeignKey("models.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("predictions", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("labelled", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("feedback", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("first_at", TS),
        sa.Column("last_at", TS),
    )
    op.execute(
        "INSERT INTO prediction_stats "
        "(model_id, version, predictions, labelled, feedback, first_at, last_at) "
        "SELECT model_id, version, COUNT(*), COUNT(labelled_at), COALESCE(SUM(feedback_count), 0), "
        "MIN(created_at), MAX(created_at) FROM predictions GROUP BY model_id, version"
    )
    op.drop_index("ix_predictions_model_labelled", table_name="predictions")
    op.create_index("ix_predictions_labelled", "predictions",
                    ["model_id", "version", "created_at"],
                    sqlite_where=LABELLED, postgresql_where=LABELLED)


def downgrade() -> None:
    op.drop_index("ix_predictions_labelled", table_name="predictions")
    op.create_index("ix_predictions_model_labelled", "predictions", ["model_id", "labelled_at"])
    op.drop_table("prediction_stats")
