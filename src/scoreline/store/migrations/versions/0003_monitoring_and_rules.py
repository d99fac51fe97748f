"""Monitoring results as records; per-rule state (event cursor, guardrail counters).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scoreline.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_results",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(32), sa.ForeignKey("executions.id"), nullable=False),
        sa.Column("step_name", sa.String(80), nullable=False),
        sa.Column("check_type", sa.String(32), nullable=False),
        sa.Column("pipeline_name", sa.String(80), nullable=False),
        sa.Column("group_name", sa.String(80), index=True),
        sa.Column("model_version", sa.Integer),
        sa.Column("created_at", UTCDateTime, nullable=False, index=True),
        sa.Column("item_count", sa.Integer),
        sa.Column("violation_count", sa.Integer, nullable=False),
        sa.Column("passed", sa.Boolean),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("drift", sa.JSON, nullable=False),
        sa.Column("violations", sa.JSON, nullable=False),
        sa.Column("report_uri", sa.Text),
        sa.UniqueConstraint("execution_id", "step_name", name="uq_monitoring_per_step"),
    )
    op.create_table(
        "rule_state",
        sa.Column("rule", sa.String(80), primary_key=True),
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("cursor", sa.Integer, nullable=False),
        sa.Column("consecutive", sa.Integer, nullable=False),
        sa.Column("last_started_at", UTCDateTime),
        sa.Column("last_execution_id", sa.String(32)),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_state")
    op.drop_table("monitoring_results")
