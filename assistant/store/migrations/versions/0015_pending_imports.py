"""invoice files admins send in Telegram: previewed, then imported on confirmation

Revision ID: 0015
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("pending_imports",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("admin_id", sa.BigInteger(), nullable=False),
                    sa.Column("chat_id", sa.BigInteger(), nullable=False),
                    sa.Column("file_id", sa.String(length=256), nullable=False),
                    sa.Column("file_name", sa.String(length=256), nullable=False),
                    sa.Column("size", sa.BigInteger(), nullable=False),
                    sa.Column("state", sa.String(length=16), nullable=False),
                    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
                    sa.Column("progress_message_id", sa.BigInteger(), nullable=True),
                    sa.Column("runner", sa.String(length=40), nullable=True),
                    sa.Column("runner_until", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_pending_imports_state", "pending_imports", ["state"])


def downgrade() -> None:
    op.drop_index("ix_pending_imports_state", table_name="pending_imports")
    op.drop_table("pending_imports")
