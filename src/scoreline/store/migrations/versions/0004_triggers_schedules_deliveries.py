"""Data-arrival objects seen, schedule ticks, notification deliveries.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scoreline.store.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trigger_objects",
        sa.Column("trigger", sa.String(80), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("version", sa.String(200), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("first_seen_at", UTCDateTime, nullable=False),
        sa.Column("emitted_at", UTCDateTime),
        sa.Column("event_id", sa.String(36)),
    )
    op.create_table(
        "schedule_ticks",
        sa.Column("schedule", sa.String(80), primary_key=True),
        sa.Column("tick_at", UTCDateTime, primary_key=True),
        sa.Column("fired", sa.Boolean, nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_seq", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime),
        sa.UniqueConstraint("event_seq", "target", name="uq_delivery_per_target"),
    )


def downgrade() -> None:
    op.drop_table("deliveries")
    op.drop_table("schedule_ticks")
    op.drop_table("trigger_objects")
