"""A model version's digests of every registered artifact besides the model file
(preprocessing, baseline statistics and constraints, evaluation), checked when it is used.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("artifact_digests", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("artifact_digests")
