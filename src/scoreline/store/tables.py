"""Table definitions of the metadata store (SQLAlchemy Core).

The Alembic migration tree in ``migrations/`` creates exactly these tables; a test compares
the two so they cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the metadata store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]


def utcnow() -> datetime:
    return datetime.now(UTC)


metadata = sa.MetaData()

pipelines = sa.Table(
    "pipelines",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

pipeline_versions = sa.Table(
    "pipeline_versions",
    metadata,
    sa.Column("pipeline_name", sa.String(80), sa.ForeignKey("pipelines.name"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("definition", sa.JSON, nullable=False),
    sa.Column("definition_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
)

executions = sa.Table(
    "executions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("pipeline_name", sa.String(80), nullable=False, index=True),
    sa.Column("pipeline_version", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False, index=True),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("failure_reason", sa.Text),
    sa.Column("started_by", sa.String(200), nullable=False),
    sa.Column("client_request_token", sa.String(128), unique=True),
    sa.Column("owner", sa.String(200)),
    sa.Column("heartbeat_at", UTCDateTime),
    sa.Column("stop_requested", sa.Boolean, nullable=False, default=False),
)

step_executions = sa.Table(
    "step_executions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("execution_id", sa.String(32), sa.ForeignKey("executions.id"), nullable=False),
    sa.Column("step_name", sa.String(80), nullable=False),
    sa.Column("step_kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("started_at", UTCDateTime),
    sa.Column("ended_at", UTCDateTime),
    sa.Column("failure_reason", sa.Text),
    sa.Column("error_detail", sa.Text),
    sa.Column("outputs", sa.JSON, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("log_uri", sa.Text),
    sa.Column("cache_key", sa.String(64), index=True),
    sa.Column("cache_hit_source", sa.Integer),
    sa.Column("process", sa.String(200)),
    sa.UniqueConstraint("execution_id", "step_name", name="uq_step_per_execution"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("time", UTCDateTime, nullable=False, index=True),
    sa.Column("source", sa.String(80), nullable=False),
    sa.Column("detail_type", sa.String(80), nullable=False, index=True),
    sa.Column("resources", sa.JSON, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

model_package_groups = sa.Table(
    "model_package_groups",
    metadata,
    sa.Column("name", sa.String(80), primary_key=True),
    sa.Column("latest_version", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column(
        "group_name", sa.String(80), sa.ForeignKey("model_package_groups.name"), primary_key=True
    ),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("approval_status", sa.String(32), nullable=False, index=True),
    sa.Column("flavor", sa.String(40), nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("artifact_sha256", sa.String(64), nullable=False),
    sa.Column("content_sha256", sa.String(64), index=True),
    sa.Column("preprocessing_uri", sa.Text),
    sa.Column("input_schema", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("metrics_uri", sa.Text),
    sa.Column("baseline", sa.JSON, nullable=False),
    sa.Column("artifact_digests", sa.JSON),
    sa.Column("lineage", sa.JSON, nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

model_approvals = sa.Table(
    "model_approvals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("group_name", sa.String(80), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("previous_status", sa.String(32)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, default=""),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["group_name", "version"], ["model_versions.group_name", "model_versions.version"]
    ),
    sa.Index("ix_model_approvals_version", "group_name", "version"),
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("group_name", sa.String(80), primary_key=True),
    sa.Column("alias", sa.String(80), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("set_by", sa.String(200), nullable=False),
    sa.Column("set_at", UTCDateTime, nullable=False),
    sa.ForeignKeyConstraint(
        ["group_name", "version"], ["model_versions.group_name", "model_versions.version"]
    ),
)

monitoring_results = sa.Table(
    "monitoring_results",
    metadata,
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
    sa.Column("scored_execution_id", sa.String(32), index=True),
    sa.UniqueConstraint("execution_id", "step_name", name="uq_monitoring_per_step"),
)

rule_state = sa.Table(
    "rule_state",
    metadata,
    sa.Column("rule", sa.String(80), primary_key=True),
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("cursor", sa.Integer, nullable=False),
    sa.Column("consecutive", sa.Integer, nullable=False),
    sa.Column("last_started_at", UTCDateTime),
    sa.Column("last_execution_id", sa.String(32)),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

trigger_objects = sa.Table(
    "trigger_objects",
    metadata,
    sa.Column("trigger", sa.String(80), primary_key=True),
    sa.Column("key", sa.String(1024), primary_key=True),
    sa.Column("version", sa.String(200), primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("emitted_at", UTCDateTime),
    sa.Column("event_id", sa.String(36)),
)

schedule_ticks = sa.Table(
    "schedule_ticks",
    metadata,
    sa.Column("schedule", sa.String(80), primary_key=True),
    sa.Column("tick_at", UTCDateTime, primary_key=True),
    sa.Column("fired", sa.Boolean, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_seq", sa.Integer, nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("html_body", sa.Text),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.UniqueConstraint("event_seq", "target", name="uq_delivery_per_target"),
)

start_intents = sa.Table(
    "start_intents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(80), nullable=False, index=True),
    sa.Column("token", sa.String(200), nullable=False, unique=True),
    sa.Column("pipeline", sa.String(80), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("scope", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("execution_id", sa.String(32)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("env", sa.String(80), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
    sa.Column("applied_by", sa.String(200), nullable=False),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("revoked_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("last_used_at", UTCDateTime),
)

auth_state = sa.Table(
    "auth_state",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("required_since", UTCDateTime, nullable=False),
    sa.Column("reason", sa.String(200), nullable=False),
)

ui_sessions = sa.Table(
    "ui_sessions",
    metadata,
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

login_links = sa.Table(
    "login_links",
    metadata,
    sa.Column("secret_sha256", sa.String(64), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("used_at", UTCDateTime),
)
