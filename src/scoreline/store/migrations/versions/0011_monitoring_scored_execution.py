"""Which execution's predictions a monitoring result is about (``scored_execution_id``):
its own for a check inside an inference execution, the earlier one for a late ground-truth
check, so a realized model quality can replace the estimate made when that batch was scored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("monitoring_results") as batch:
        batch.add_column(sa.Column("scored_execution_id", sa.String(32), index=True))


def downgrade() -> None:
    with op.batch_alter_table("monitoring_results") as batch:
        batch.drop_column("scored_execution_id")
