"""a broadcast is sent by one process at a time: the runner holding it, until its hold runs out

Revision ID: 0011
Revises: 0010
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.add_column(sa.Column("runner", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("runner_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcasts") as batch:
        batch.drop_column("runner_until")
        batch.drop_column("runner")
