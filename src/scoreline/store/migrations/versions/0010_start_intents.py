"""Pipeline starts that rules decided on and could not make yet, retried until they start.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scoreline.store.tables import UTCDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "start_intents",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(80), nullable=False),
        sa.Column("token", sa.String(200), nullable=False, unique=True),
        sa.Column("pipeline", sa.String(80), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("execution_id", sa.String(32)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_start_intents_rule", "start_intents", ["rule"])
    op.create_index("ix_start_intents_status", "start_intents", ["status"])


def downgrade() -> None:
    op.drop_index("ix_start_intents_status", "start_intents")
    op.drop_index("ix_start_intents_rule", "start_intents")
    op.drop_table("start_intents")
