"""A model version's content key (the sha256 of its model file and preprocessing together,
so registering the same content again finds the existing version), and the HTML part of a
notification kept with its plain text.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("content_sha256", sa.String(64)))
        batch.create_index("ix_model_versions_content_sha256", ["content_sha256"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("html_body", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("html_body")
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_index("ix_model_versions_content_sha256")
        batch.drop_column("content_sha256")
