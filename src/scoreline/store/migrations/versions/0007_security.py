"""Persistent authentication state, server-side UI sessions, one-time login links, and
token expiry and last use.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scoreline.store.tables import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", UTCDateTime))
        batch.add_column(sa.Column("last_used_at", UTCDateTime))
    op.create_table(
        "auth_state",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("required_since", UTCDateTime, nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
    )
    # A project that has ever had a token stays authenticated after this upgrade.
    op.execute(
        "INSERT INTO auth_state (id, required_since, reason) "
        "SELECT 1, created_at, 'a token was created' FROM api_tokens ORDER BY id LIMIT 1"
    )
    op.create_table(
        "ui_sessions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_id", sa.Integer),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
    )
    op.create_table(
        "login_links",
        sa.Column("secret_sha256", sa.String(64), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime),
    )


def downgrade() -> None:
    op.drop_table("login_links")
    op.drop_table("ui_sessions")
    op.drop_table("auth_state")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
