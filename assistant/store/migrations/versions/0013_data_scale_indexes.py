"""indexes for data at scale: near-match by date and amount, the lookup limit by user, prunes by age

Revision ID: 0013
Revises: 0012
"""
from typing import Any

from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FINISHED = "state IN ('done', 'dropped')"
FAILED = "failed_at IS NOT NULL"


def _where(condition: str) -> dict[str, Any]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.create_index("ix_invoices_issue_date_total", "invoices", ["issue_date", "total"])
    op.create_index("ix_invoices_issue_date_amount", "invoices", ["issue_date", "amount"])
    op.create_index("ix_diagnoses_user_id_created_at", "diagnoses", ["user_id", "created_at"])
    op.create_index("ix_inbox_finished", "inbox", ["finished_at"], **_where(FINISHED))
    op.create_index("ix_outbox_failed", "outbox", ["failed_at"], **_where(FAILED))


def downgrade() -> None:
    op.drop_index("ix_outbox_failed", table_name="outbox")
    op.drop_index("ix_inbox_finished", table_name="inbox")
    op.drop_index("ix_diagnoses_user_id_created_at", table_name="diagnoses")
    op.drop_index("ix_invoices_issue_date_amount", table_name="invoices")
    op.drop_index("ix_invoices_issue_date_total", table_name="invoices")
