"""Initial schema: pipelines, versions, executions, step executions, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scoreline.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "pipeline_versions",
        sa.Column(
            "pipeline_name", sa.String(80), sa.ForeignKey("pipelines.name"), primary_key=True
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("definition_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "executions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("pipeline_name", sa.String(80), nullable=False),
        sa.Column("pipeline_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("failure_reason", sa.Text),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("client_request_token", sa.String(128), unique=True),
        sa.Column("owner", sa.String(200)),
        sa.Column("heartbeat_at", UTCDateTime),
        sa.Column("stop_requested", sa.Boolean, nullable=False),
    )
    op.create_index("ix_executions_pipeline_name", "executions", ["pipeline_name"])
    op.create_index("ix_executions_status", "executions", ["status"])
    op.create_index("ix_executions_created_at", "executions", ["created_at"])
    op.create_table(
        "step_executions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("execution_id", sa.String(32), sa.ForeignKey("executions.id"), nullable=False),
        sa.Column("step_name", sa.String(80), nullable=False),
        sa.Column("step_kind", sa.String(40), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("failure_reason", sa.Text),
        sa.Column("error_detail", sa.Text),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("log_uri", sa.Text),
        sa.Column("cache_key", sa.String(64)),
        sa.Column("cache_hit_source", sa.Integer),
        sa.Column("process", sa.String(200)),
        sa.UniqueConstraint("execution_id", "step_name", name="uq_step_per_execution"),
    )
    op.create_index("ix_step_executions_cache_key", "step_executions", ["cache_key"])
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("time", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(80), nullable=False),
        sa.Column("detail_type", sa.String(80), nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_time", "events", ["time"])
    op.create_index("ix_events_detail_type", "events", ["detail_type"])


def downgrade() -> None:
    for table in ("events", "step_executions", "executions", "pipeline_versions", "pipelines"):
        op.drop_table(table)
