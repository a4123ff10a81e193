"""The inbox's rows: updates stored on receipt, claimed per chat in order, finished, dead-lettered."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from assistant.store.models import InboxEntry
from assistant.store.dialect import dialect_insert

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    """One update as the transport gave it, with what the inbox orders and groups it by."""

    update_id: int
    chat_id: int
    user_id: int | None
    kind: str
    payload: dict[str, Any]
    album: str | None = None


@dataclass(frozen=True)
class Item:
    update_id: int
    chat_id: int
    user_id: int | None
    kind: str
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Batch:
    """What one handling takes: one update, or every update of one album, of one chat, in order."""

    chat_id: int
    items: tuple[Item, ...]

    @property
    def ids(self) -> list[int]:
        return [item.update_id for item in self.items]

    @property
    def attempts(self) -> int:
        return max(item.attempts for item in self.items)

    @property
    def user_id(self) -> int | None:
        return self.items[0].user_id

    @property
    def kind(self) -> str:
        return self.items[0].kind


class InboxStore:
    """The inbox over one session (one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def receive(self, updates: Sequence[Received], now: datetime) -> None:
        """Store updates; one already stored (delivered again) is left as it is."""
        if not updates:
            return
        rows = [{"update_id": u.update_id, "chat_id": u.chat_id, "user_id": u.user_id, "kind": u.kind[:24],
                 "album": (u.album or None) and u.album[:64], "payload": u.payload, "state": "pending",
                 "attempts": 0, "lease_until": None, "received_at": now, "finished_at": None, "error": ""}
                for u in updates]
        statement = (dialect_insert(self.session, InboxEntry.__table__)
                     .on_conflict_do_nothing(index_elements=["update_id"]))
        await self.session.execute(statement, rows)  # executemany: compiled once, whatever the number of rows

    async def claim(self, now: datetime, *, lease: timedelta, limit: int, busy: Collection[int],
                    album_wait: timedelta, suspects: bool = False) -> list[Batch]:
        """The next update (or album) of up to `limit` chats that nobody is handling, leased to the caller.

        Attempts are counted here, before handling. A chat whose earlier update is leased or waiting for
        its retry is skipped, so each chat's updates are handled one at a time, in order. A chat whose
        next update was claimed before and never finished (its process died: a crash suspect) is only
        claimed with `suspects`, which the worker asks for when it has nothing else in hand.
        """
        leased = func.max(case((and_(InboxEntry.lease_until.is_not(None), InboxEntry.lease_until > now), 1),
                               else_=0))
        suspect = func.max(case((and_(InboxEntry.attempts > 0, InboxEntry.error == ""), 1), else_=0))
        sending = aliased(InboxEntry)  # done, its answer still being sent by another process: the chat waits
        still_sending = (select(sending.update_id).where(sending.chat_id == InboxEntry.chat_id,
                                                         sending.state == "done", sending.lease_until > now)
                         .exists())
        firsts = (select(func.min(InboxEntry.update_id))
                  .where(InboxEntry.state == "pending", ~still_sending).group_by(InboxEntry.chat_id)
                  .having(leased == 0, suspect == (1 if suspects else 0))
                  .order_by(func.max(InboxEntry.attempts), func.min(InboxEntry.update_id)).limit(limit))
        if busy:
            firsts = firsts.where(InboxEntry.chat_id.not_in(list(busy)))
        first = aliased(InboxEntry)
        heads = (await self.session.execute(select(first.update_id, first.chat_id, first.album)
                                            .where(first.update_id.in_(firsts)))).all()
        if not heads:
            return []
        wanted: list[list[int]] = []
        for update_id, chat_id, album in sorted(heads):
            if album is None:
                wanted.append([update_id])
                continue
            photos = (await self.session.execute(
                select(InboxEntry.update_id, InboxEntry.received_at)
                .where(InboxEntry.chat_id == chat_id, InboxEntry.album == album,
                       InboxEntry.state == "pending").order_by(InboxEntry.update_id))).all()
            if max(received for _, received in photos) > now - album_wait:
                continue  # the album's other photos may still be coming
            wanted.append([photo for photo, _ in photos])
        ids = [update_id for group in wanted for update_id in group]
        if not ids:
            return []
        table = InboxEntry.__table__
        claimed = (await self.session.execute(
            update(table)
            .where(table.c.update_id.in_(ids), table.c.state == "pending",
                   or_(table.c.lease_until.is_(None), table.c.lease_until <= now))
            .values(lease_until=now + lease, attempts=table.c.attempts + 1)
            .returning(table.c.update_id, table.c.chat_id, table.c.user_id, table.c.kind, table.c.payload,
                       table.c.attempts))).all()
        fresh = {row.update_id: Item(*row) for row in claimed}
        return [Batch(fresh[group[0]].chat_id, tuple(fresh[u] for u in group if u in fresh))
                for group in wanted if group[0] in fresh]

    async def finish(self, update_ids: Sequence[int], now: datetime, state: str = "done", error: str = "",
                     sending: bool = False) -> int:
        """Mark pending entries done (or dead, with the error); how many were pending.

        In the transaction of an update's effects this is what makes handling exactly-once: an update
        finished before (by this or another process) is not pending any more, and 0 says so.
        `sending`: the lease is kept until `sent` says the answer went out, so that no other process
        answers the chat's next update before this one's answer is out.
        """
        if not update_ids:
            return 0
        values: dict[str, Any] = {"state": state, "finished_at": now, "error": error[:2000]}
        if not sending:
            values["lease_until"] = None
        table = InboxEntry.__table__  # the table, as in `claim`: no ORM session to keep in step on every event
        result = await self.session.execute(update(table).where(table.c.update_id.in_(list(update_ids)),
                                                                 table.c.state == "pending").values(**values))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def sent(self, update_ids: Sequence[int]) -> None:
        """The answer to these updates went out: their chat's next update may be handled anywhere."""
        if update_ids:
            table = InboxEntry.__table__
            await self.session.execute(update(table).where(table.c.update_id.in_(list(update_ids)))
                                       .values(lease_until=None))

    async def release(self, update_ids: Sequence[int], *, retry_at: datetime | None, error: str = "",
                      uncount: bool = False) -> None:
        """Give entries back: tried again from `retry_at` (None: at once); `uncount` takes the attempt back."""
        values: dict[str, Any] = {"lease_until": retry_at, "error": error[:2000]}
        if uncount:
            values["attempts"] = InboxEntry.attempts - 1
        await self.session.execute(update(InboxEntry).where(InboxEntry.update_id.in_(list(update_ids)),
                                                             InboxEntry.state == "pending").values(**values))

    async def entries(self, states: Collection[str] = ("pending", "dead"), limit: int = 100) -> list[InboxEntry]:
        query = (select(InboxEntry).where(InboxEntry.state.in_(list(states)))
                 .order_by(InboxEntry.update_id).limit(limit))
        return list((await self.session.scalars(query)).all())

    async def entry(self, update_id: int) -> InboxEntry | None:
        return await self.session.get(InboxEntry, update_id)

    async def retry(self, update_id: int) -> bool:
        """A dead (or dropped) entry back in line, with its attempts reset."""
        result = await self.session.execute(
            update(InboxEntry).where(InboxEntry.update_id == update_id, InboxEntry.state.in_(["dead", "dropped"]))
            .values(state="pending", attempts=0, lease_until=None, finished_at=None))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def drop(self, update_id: int, now: datetime) -> bool:
        """An entry an admin gave up on: never handled."""
        result = await self.session.execute(
            update(InboxEntry).where(InboxEntry.update_id == update_id, InboxEntry.state.in_(["pending", "dead"]))
            .values(state="dropped", finished_at=now, lease_until=None))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def counts(self) -> dict[str, int]:
        query = (select(InboxEntry.state, func.count()).where(InboxEntry.state.in_(["pending", "dead"]))
                 .group_by(InboxEntry.state))
        return {state: int(count) for state, count in await self.session.execute(query)}

    async def forget(self, before: datetime) -> None:
        """Finished entries older than `before` (dead ones stay until an admin acts)."""
        await self.session.execute(delete(InboxEntry).where(InboxEntry.state.in_(["done", "dropped"]),
                                                            InboxEntry.finished_at < before))
