"""Tokens that expire, and browser sessions that are not the token itself.

``tokens.expires_at`` (NULL: never) is checked on every request. A browser that signs in with
a token gets a session of its own: the cookie holds a random secret whose SHA-256 is
``ui_sessions.id``, so the API token never sits in a cookie, and signing out ends the session
without touching the token. A session dies with its token (revoked, expired or deleted) and
with its user.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.BigInteger  # milliseconds since the epoch, UTC


def upgrade() -> None:
    op.add_column("tokens", sa.Column("expires_at", TS))
    op.create_table(
        "ui_sessions",
        sa.Column("id", sa.String(64), primary_key=True),  # SHA-256 of the cookie's secret
        sa.Column("token_id", sa.String(32), sa.ForeignKey("tokens.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_index("ix_ui_sessions_token", "ui_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_index("ix_ui_sessions_token", table_name="ui_sessions")
    op.drop_table("ui_sessions")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("expires_at")
