"""the inbox's indexes hold only what the claim reads: pending rows, answers being sent, dead letters

Revision ID: 0009
Revises: 0008
"""
from typing import Any

from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WAITING = "state = 'pending'"
SENDING = "state = 'done' AND lease_until IS NOT NULL"
DEAD = "state = 'dead'"


def _where(condition: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.drop_index("ix_inbox_pending", table_name="inbox")
    op.create_index("ix_inbox_waiting", "inbox", ["chat_id", "update_id"], **_where(WAITING))
    op.create_index("ix_inbox_sending", "inbox", ["chat_id"], **_where(SENDING))
    op.create_index("ix_inbox_dead", "inbox", ["update_id"], **_where(DEAD))


def downgrade() -> None:
    op.drop_index("ix_inbox_dead", table_name="inbox")
    op.drop_index("ix_inbox_sending", table_name="inbox")
    op.drop_index("ix_inbox_waiting", table_name="inbox")
    op.create_index("ix_inbox_pending", "inbox", ["state", "chat_id", "update_id"])
