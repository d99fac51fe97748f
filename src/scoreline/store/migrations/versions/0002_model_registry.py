"""Model registry: package groups, immutable versions, approval audit, aliases.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from scoreline.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_VERSION_FK = (["group_name", "version"], ["model_versions.group_name", "model_versions.version"])


def upgrade() -> None:
    op.create_table(
        "model_package_groups",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("latest_version", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "model_versions",
        sa.Column(
            "group_name",
            sa.String(80),
            sa.ForeignKey("model_package_groups.name"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("approval_status", sa.String(32), nullable=False, index=True),
        sa.Column("flavor", sa.String(40), nullable=False),
        sa.Column("artifact_uri", sa.Text, nullable=False),
        sa.Column("artifact_sha256", sa.String(64), nullable=False),
        sa.Column("preprocessing_uri", sa.Text),
        sa.Column("input_schema", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("metrics_uri", sa.Text),
        sa.Column("baseline", sa.JSON, nullable=False),
        sa.Column("lineage", sa.JSON, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "model_approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_name", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("previous_status", sa.String(32)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(*_VERSION_FK),
    )
    op.create_index("ix_model_approvals_version", "model_approvals", ["group_name", "version"])
    op.create_table(
        "model_aliases",
        sa.Column("group_name", sa.String(80), primary_key=True),
        sa.Column("alias", sa.String(80), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("set_by", sa.String(200), nullable=False),
        sa.Column("set_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(*_VERSION_FK),
    )


def downgrade() -> None:
    op.drop_table("model_aliases")
    op.drop_index("ix_model_approvals_version", "model_approvals")
    op.drop_table("model_approvals")
    op.drop_table("model_versions")
    op.drop_table("model_package_groups")
