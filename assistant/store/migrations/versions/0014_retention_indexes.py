"""indexes for the retention prune: lookups and closed tickets still naming someone, inactive chats, old access requests

Revision ID: 0014
Revises: 0013
"""
from typing import Any

from alembic import op
import sqlalchemy as sa

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _where(condition: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.create_index("ix_diagnoses_named", "diagnoses", ["created_at"], **_where("user_id <> 0"))
    op.create_index("ix_tickets_closed_named", "tickets", ["closed_at"], **_where("state = 'closed' AND user_id <> 0"))
    op.create_index("ix_conversations_updated_at", "conversations", ["updated_at"])
    op.create_index("ix_access_requests_created_at", "access_requests", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_access_requests_created_at", table_name="access_requests")
    op.drop_index("ix_conversations_updated_at", table_name="conversations")
    op.drop_index("ix_tickets_closed_named", table_name="tickets")
    op.drop_index("ix_diagnoses_named", table_name="diagnoses")
