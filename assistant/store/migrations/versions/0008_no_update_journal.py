"""the inbox is the journal of handled updates: processed_updates goes

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_processed_updates_chat", table_name="processed_updates")
    op.drop_index("ix_processed_updates_handled_at", table_name="processed_updates")
    op.drop_table("processed_updates")


def downgrade() -> None:
    op.create_table(
        "processed_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_processed_updates")),
    )
    op.create_index("ix_processed_updates_handled_at", "processed_updates", ["handled_at"])
    op.create_index("ix_processed_updates_chat", "processed_updates", ["chat_id", "update_id"])
