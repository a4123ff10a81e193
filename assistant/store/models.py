"""The database schema: invoices, users, conversations, tickets, maintenance and follow-ups."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _where(condition: str) -> dict[str, Any]:
    """A partial index's condition, on both backends."""
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


INVOICE_STATUSES = ("normal", "voided", "red_reversed", "out_of_control", "abnormal")
ROLES = ("merchant", "staff", "admin")


class Company(Base):
    __tablename__ = "companies"

    tax_id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(16), default="merchant")
    language: Mapped[str] = mapped_column(String(8), default="zh")
    name: Mapped[str] = mapped_column(String(200), default="")
    alias: Mapped[str] = mapped_column(String(64), default="")
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class UserCompany(Base):
    __tablename__ = "user_companies"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    tax_id: Mapped[str] = mapped_column(String(20), primary_key=True)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("code", "number"), Index("ix_invoices_number", "number"),
                      Index("ix_invoices_seller_tax_id", "seller_tax_id"),
                      Index("ix_invoices_buyer_tax_id", "buyer_tax_id"),
                      Index("ix_invoices_issue_date_total", "issue_date", "total"),
                      Index("ix_invoices_issue_date_amount", "issue_date", "amount"))
    """The unique key answers a lookup and the near-match search's typo variants; (issue_date, total) and
    (issue_date, amount) its same-day-same-amount branch, whatever the size of the merchant's companies."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(12), default="")
    number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(16))
    issue_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    tax: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    total: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    check_code: Mapped[str] = mapped_column(String(20), default="")
    seller_tax_id: Mapped[str] = mapped_column(String(20))
    seller_name: Mapped[str] = mapped_column(String(200))
    buyer_tax_id: Mapped[str] = mapped_column(String(20), default="")
    buyer_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="normal")
    status_changed_at: Mapped[datetime | None]
    sync_state: Mapped[str] = mapped_column(String(8), default="synced")
    uploaded_at: Mapped[datetime | None]
    synced_at: Mapped[datetime | None]


class Conversation(Base):
    """One row per chat: the flow's state and the fields collected so far."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_updated_at", "updated_at"),)
    """The retention prune's inactive chats, the oldest first."""

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger)
    flow: Mapped[str] = mapped_column(String(32), default="troubleshoot")
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class Diagnosis(Base):
    """Every outcome the assistant gave, for statistics."""

    __tablename__ = "diagnoses"
    __table_args__ = (Index("ix_diagnoses_created_at", "created_at"),
                      Index("ix_diagnoses_user_id_created_at", "user_id", "created_at"),
                      Index("ix_diagnoses_named", "created_at", **_where("user_id <> 0")))
    """(user_id, created_at): the lookup limit reads one user's day, not everyone's. `ix_diagnoses_named`: the
    retention prune's oldest lookups still naming someone, never walking the ones it made anonymous."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    code: Mapped[str] = mapped_column(String(12), default="")
    number: Mapped[str] = mapped_column(String(20), default="")
    outcome: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class Ticket(Base):
    """A human-support ticket; its lifecycle is flows/ticket.py, its history is TicketEvent."""

    __tablename__ = "tickets"
    __table_args__ = (Index("ix_tickets_user_id", "user_id"), Index("ix_tickets_topic_id", "topic_id"),
                      Index("ix_tickets_state_escalate_at", "state", "escalate_at"),
                      Index("ix_tickets_closed_named", "closed_at", **_where("state = 'closed' AND user_id <> 0")))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="open")
    reason: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    merchant_name: Mapped[str] = mapped_column(String(200), default="")
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checks: Mapped[list[Any]] = mapped_column(default=list)
    topic_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    assignee_id: Mapped[int | None] = mapped_column(BigInteger)
    claimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    close_reason: Mapped[str] = mapped_column(Text, default="")
    rating: Mapped[int | None] = mapped_column(Integer)
    escalate_at: Mapped[datetime | None]
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]


class TicketEvent(Base):
    """Every change of a ticket: what, who, when."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class RelayedMessage(Base):
    """Which copy stands for which original, so replies stay threaded and edits carry over."""

    __tablename__ = "relayed_messages"
    __table_args__ = (UniqueConstraint("ticket_id", "source_chat_id", "source_message_id"),
                      Index("ix_relayed_messages_copy", "copy_chat_id", "copy_message_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    source_chat_id: Mapped[int] = mapped_column(BigInteger)
    source_message_id: Mapped[int] = mapped_column(BigInteger)
    copy_chat_id: Mapped[int] = mapped_column(BigInteger)
    copy_message_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class MaintenanceWindow(Base):
    __tablename__ = "maintenance_windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text, default="")
    ended_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class AccessRequest(Base):
    __tablename__ = "access_requests"
    __table_args__ = (UniqueConstraint("user_id", "invoice_id"), Index("ix_access_requests_created_at", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]


class FollowUp(Base):
    """Something promised for later: "notify me when maintenance ends", "check again for me later"."""

    __tablename__ = "follow_ups"
    __table_args__ = (Index("ix_follow_ups_due", "delivered_at", "due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    window_id: Mapped[int | None] = mapped_column(ForeignKey("maintenance_windows.id", ondelete="SET NULL"))
    due_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """Every admin action and every refused attempt: who, what, when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(48))
    allowed: Mapped[bool] = mapped_column(Boolean)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime]


class Broadcast(Base):
    """An admin's announcement to many merchants, sent at a limited rate and resumable."""

    __tablename__ = "broadcasts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[int] = mapped_column(BigInteger)
    audience: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="running")
    total: Mapped[int] = mapped_column(Integer, default=0)
    progress_chat_id: Mapped[int] = mapped_column(BigInteger)
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    runner: Mapped[str | None] = mapped_column(String(40))
    """The process sending it (one at a time, so the broadcast rate holds across processes)."""
    runner_until: Mapped[datetime | None]


class BroadcastRecipient(Base):
    """One recipient's delivery state: pending, sending, sent, blocked or failed."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (Index("ix_broadcast_recipients_state", "broadcast_id", "state"),)

    broadcast_id: Mapped[int] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]


class OutboxEntry(Base):
    """An output owed to a chat, stored in the transaction that produced it and sent after commit.

    The sending process (`owner`) holds a lease, renewed while the output waits for its turn or is being
    sent; an entry whose lease ran out unsent (its process died) is claimed and sent again by whichever
    process looks next.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "failed_at", "lease_until"),
                      Index("ix_outbox_failed", "failed_at", **_where("failed_at IS NOT NULL")))
    """The prune reads sent entries by `ix_outbox_pending` (sent_at first) and failed ones by `ix_outbox_failed`."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    lease_until: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    sent_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    owner: Mapped[str | None] = mapped_column(String(40))
    """The process holding the lease (its senders renew it while the output waits for its turn)."""


class InboxEntry(Base):
    """An update as received, stored before it is confirmed to the transport and handled from here.

    `state` is pending, done, dead (failed `MAX_ATTEMPTS` times; the merchant was told) or dropped (by an
    admin). `attempts` is counted when an entry is claimed, before handling, so a crash counts too.
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_waiting", "chat_id", "update_id", **_where("state = 'pending'")),
                      Index("ix_inbox_sending", "chat_id", **_where("state = 'done' AND lease_until IS NOT NULL")),
                      Index("ix_inbox_dead", "update_id", **_where("state = 'dead'")),
                      Index("ix_inbox_received_at", "received_at"),
                      Index("ix_inbox_finished", "finished_at", **_where("state IN ('done', 'dropped')")))
    """Partial indexes: the few rows the claim reads (pending; answers being sent) and dead letters, not
    the finished ones that make up most of the table (on PostgreSQL, also not their dead versions)."""

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    album: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    received_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")


class Alert(Base):
    """What admins were last told about one kind of trouble, and up to when it was counted."""

    __tablename__ = "alerts"

    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    counted_until: Mapped[datetime]
    told_at: Mapped[datetime | None]


class PendingImport(Base):
    """An invoice file an admin sent in Telegram: previewed, then imported once on confirmation.

    Only what is needed to fetch it again is kept (Telegram's file id, its name and size), never its content.
    `state`: previewed (waiting for the admin's answer), confirmed (the import runner takes it), running,
    done or failed. A cancelled preview is deleted.
    """

    __tablename__ = "pending_imports"
    __table_args__ = (Index("ix_pending_imports_state", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    admin_id: Mapped[int] = mapped_column(BigInteger)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    file_id: Mapped[str] = mapped_column(String(256))
    file_name: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16), default="previewed")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    progress_message_id: Mapped[int | None] = mapped_column(BigInteger)
    runner: Mapped[str | None] = mapped_column(String(40))
    """The process importing it (a crashed one's hold runs out and another takes the import up again)."""
    runner_until: Mapped[datetime | None]
