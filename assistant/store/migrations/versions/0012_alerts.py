"""admins are told of dead letters and outputs given up: what was counted and when they were told

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("alerts",
                    sa.Column("kind", sa.String(length=32), primary_key=True),
                    sa.Column("counted_until", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("told_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_table("alerts")
