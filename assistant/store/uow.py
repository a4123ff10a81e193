"""The SQL unit of work: one transaction, the repositories of every aggregate over it, and the chat lock.

`sql_units(sessions)` opens one over SQLAlchemy (SQLite or PostgreSQL); `MemoryDatabase.unit_of_work`
is the same contract in memory (`assistant/store/memory.py`); the contract itself is
`assistant/store/contracts.py`, and `tests/integration/test_store_contract.py` runs one suite against
all three.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.store.access import AccessRequests
from assistant.store.alerts import Alerts
from assistant.store.audit import AuditLog
from assistant.store.broadcasts import Broadcasts
from assistant.store.contracts import Units
from assistant.store.conversations import Conversations
from assistant.store.driver import ALONE, Driver
from assistant.store.follow_ups import FollowUps
from assistant.store.imports import Imports
from assistant.store.inbox import InboxStore
from assistant.store.invoices import Invoices
from assistant.store.lookups import Lookups
from assistant.store.maintenance import MaintenanceWindows
from assistant.store.outbox_store import Outbox
from assistant.store.privacy import Privacy
from assistant.store.tickets import Tickets
from assistant.store.users import Users

logger = logging.getLogger(__name__)


class SqlUnitOfWork:
    """The repositories over one session (one transaction): `contracts.UnitOfWork` over SQLAlchemy."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.users = Users(session)
        self.access = AccessRequests(session)
        self.conversations = Conversations(session)
        self.invoices = Invoices(session)
        self.lookups = Lookups(session)
        self.maintenance = MaintenanceWindows(session)
        self.tickets = Tickets(session)
        self.follow_ups = FollowUps(session)
        self.audit = AuditLog(session)
        self.outbox = Outbox(session)
        self.broadcasts = Broadcasts(session)
        self.inbox = InboxStore(session)
        self.alerts = Alerts(session)
        self.privacy = Privacy(session)
        self.imports = Imports(session)

    async def lock_chat(self, chat_id: int) -> None:
        """Serialise this chat's transactions across processes until this one ends.

        PostgreSQL: an advisory transaction lock keyed by the chat id. SQLite: every write transaction
        already begins IMMEDIATE, so writers queue one at a time.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            driver = await Driver.of(self.session)
            await driver.run("SELECT pg_advisory_xact_lock($1)", chat_id)


UnitOfWork = SqlUnitOfWork
"""The name tests and benchmarks open one by over a session (`UnitOfWork(session)`)."""


def sql_units(sessions: async_sessionmaker[AsyncSession]) -> Units:
    @asynccontextmanager
    async def unit_of_work(*, alone: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        async with sessions() as session, session.begin():
            if alone:
                session.info[ALONE] = True
            yield SqlUnitOfWork(session)
    return unit_of_work
