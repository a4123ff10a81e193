"""The inbox's rows: updates stored on receipt, claimed per chat in order, finished, dead-lettered."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.store.driver import Driver, unwritten
from assistant.store.models import InboxEntry

logger = logging.getLogger(__name__)

PRUNE_BATCH = 1000
PRUNE = ("SELECT update_id FROM inbox WHERE state IN ('done', 'dropped') AND finished_at < $1"
         " ORDER BY finished_at LIMIT $2")
"""The oldest finished entries first, in the partial index's order: the plan is that index whatever the
parameters; they are then deleted by their key (a DELETE … IN (SELECT …) may read the table to join)."""
"""Rows a prune deletes at most per run (every few seconds per process): bounded work, whatever the backlog."""

_HEADS = """
SELECT update_id, chat_id, album FROM inbox WHERE update_id IN (
    SELECT min(entry.update_id) FROM inbox AS entry
    WHERE entry.state = 'pending' AND entry.chat_id <> ALL($3){only}
      AND NOT EXISTS (SELECT 1 FROM inbox AS sending WHERE sending.chat_id = entry.chat_id
                      AND sending.state = 'done' AND sending.lease_until > $1)
    GROUP BY entry.chat_id
    HAVING max(CASE WHEN entry.lease_until IS NOT NULL AND entry.lease_until > $1 THEN 1 ELSE 0 END) = 0
       AND max(CASE WHEN entry.attempts > 0 AND entry.error = '' THEN 1 ELSE 0 END) = $2
    ORDER BY max(entry.attempts), min(entry.update_id) LIMIT $4)
"""
"""The first pending update of each chat nobody is handling (leased, retrying, or its answer being sent)."""
_HEADS_OF_ALL = _HEADS.format(only="")
_HEADS_OF_SOME = _HEADS.format(only=" AND entry.chat_id = ANY($5)")


@dataclass(frozen=True)
class Received:
    """One update as the transport gave it, with what the inbox orders and groups it by."""

    update_id: int
    chat_id: int
    user_id: int | None
    kind: str
    payload: dict[str, Any]
    album: str | None = None
    received_at: datetime | None = None
    """When this process got it (None: when it is stored)."""


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
        """Store updates (received at their `received_at`, else `now`); one stored before is left as it is."""
        if not updates:
            return
        driver = await Driver.of(self.session)
        await driver.many(
            "INSERT INTO inbox (update_id, chat_id, user_id, kind, album, payload, state, attempts, lease_until,"
            " received_at, finished_at, error) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, NULL, $7, NULL, '')"
            " ON CONFLICT (update_id) DO NOTHING",
            [(u.update_id, u.chat_id, u.user_id, u.kind[:24], (u.album or None) and u.album[:64],
              driver.json(u.payload), driver.when(u.received_at or now)) for u in updates])

    async def bury(self, update_id: int, payload: dict[str, Any], error: str, now: datetime) -> None:
        """Store an update as dead on arrival (it could not be stored as it came); one stored before stays."""
        driver = await Driver.of(self.session)
        await driver.run(
            "INSERT INTO inbox (update_id, chat_id, user_id, kind, album, payload, state, attempts, lease_until,"
            " received_at, finished_at, error) VALUES ($1, 0, NULL, 'unstorable', NULL, $2, 'dead', 0, NULL, $3, $3, $4)"
            " ON CONFLICT (update_id) DO NOTHING", update_id, driver.json(payload), driver.when(now), error[:2000])

    async def claim(self, now: datetime, *, lease: timedelta, limit: int, busy: Collection[int],
                    album_wait: timedelta, suspects: bool = False,
                    only: Collection[int] | None = None) -> list[Batch]:
        """The next update (or album) of up to `limit` chats that nobody is handling, leased to the caller.

        Attempts are counted here, before handling. A chat whose earlier update is leased or waiting for
        its retry is skipped, so each chat's updates are handled one at a time, in order; so is a chat
        whose answer to its previous update is still being sent (done, leased). A chat whose next update
        was claimed before and never finished (its process died: a crash suspect) is only claimed with
        `suspects`, which the worker asks for when it has nothing else in hand. `only`: look at these
        chats alone (those known to have new work), not through every pending update.
        """
        driver = await Driver.of(self.session)
        at = driver.when(now)
        if only is None:
            heads = await driver.rows(_HEADS_OF_ALL, at, 1 if suspects else 0, driver.array(busy), limit)
        else:
            heads = await driver.rows(_HEADS_OF_SOME, at, 1 if suspects else 0, driver.array(busy), limit,
                                      driver.array(only))
        if not heads:
            return []
        wanted: list[list[int]] = []
        for update_id, chat_id, album in sorted(tuple(head) for head in heads):
            if album is None:
                wanted.append([update_id])
                continue
            photos = [(photo, driver.when_of(received)) for photo, received in await driver.rows(
                "SELECT update_id, received_at FROM inbox WHERE chat_id = $1 AND album = $2 AND state = 'pending'"
                " ORDER BY update_id", chat_id, album)]
            if max(received for _, received in photos if received is not None) > now - album_wait:
                continue  # the album's other photos may still be coming
            wanted.append([photo for photo, _ in photos])
        ids = [update_id for group in wanted for update_id in group]
        if not ids:
            return []
        claimed = await driver.rows(
            "UPDATE inbox SET lease_until = $1, attempts = attempts + 1 WHERE update_id = ANY($2)"
            " AND state = 'pending' AND (lease_until IS NULL OR lease_until <= $3)"
            " RETURNING update_id, chat_id, user_id, kind, payload, attempts",
            driver.when(now + lease), driver.array(ids), at)
        fresh = {row[0]: Item(row[0], row[1], row[2], row[3], driver.json_of(row[4]), row[5]) for row in claimed}
        return [Batch(fresh[group[0]].chat_id, tuple(fresh[u] for u in group if u in fresh))
                for group in wanted if group[0] in fresh]

    async def finish(self, update_ids: Sequence[int], now: datetime, state: str = "done", error: str = "",
                     sending: bool = False, lock_chat: int | None = None) -> int:
        """Mark pending entries done (or dead, with the error); how many were pending.

        In the transaction of an update's effects this is what makes handling exactly-once: an update
        finished before (by this or another process) is not pending any more, and 0 says so.
        `sending`: the lease is kept until `sent` says the answer went out, so that no other process
        answers the chat's next update before this one's answer is out.
        `lock_chat`: take that chat's lock first, as `UnitOfWork.lock_chat` does; on PostgreSQL in the same
        statement (one round trip less), and only when an update is pending (none: nothing to do).
        """
        if not update_ids:
            return 0
        driver = await Driver.of(self.session)
        lease = "lease_until" if sending else "NULL"
        args = [state, driver.when(now), error[:2000], driver.array(update_ids)]
        # SQLite: the write transaction holds the whole database already. PostgreSQL: the lock is taken as
        # the pending row comes out of the scan, before it is updated; a row finished meanwhile by the
        # lock's holder is checked again after it and left alone (READ COMMITTED)
        locking = lock_chat is not None and not driver.sqlite
        if locking:
            args.append(lock_chat)
        return await driver.run(
            ("WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock($5)) " if locking else "")
            + f"UPDATE inbox SET state = $1, finished_at = $2, error = $3, lease_until = {lease}"
            + (" FROM locked" if locking else "") + " WHERE update_id = ANY($4) AND state = 'pending'", *args)

    async def sent(self, update_ids: Sequence[int]) -> None:
        """The answer to these updates went out: their chat's next update may be handled anywhere."""
        if update_ids:
            driver = await Driver.of(self.session)
            await driver.run("UPDATE inbox SET lease_until = NULL WHERE update_id = ANY($1)",
                             driver.array(update_ids))

    async def release(self, update_ids: Sequence[int], *, retry_at: datetime | None, error: str = "",
                      uncount: bool = False) -> None:
        """Give entries back: tried again from `retry_at` (None: at once); `uncount` takes the attempt back."""
        values: dict[str, Any] = {"lease_until": retry_at, "error": error[:2000]}
        if uncount:
            values["attempts"] = InboxEntry.attempts - 1
        await self.session.execute(update(InboxEntry).where(InboxEntry.update_id.in_(list(update_ids)),
                                                             InboxEntry.state == "pending").values(**values))

    async def entries(self, states: Collection[str] = ("pending", "dead"), limit: int = 100) -> list[InboxEntry]:
        found: list[InboxEntry] = []
        for state in states:  # a state at a time: each of pending and dead has a partial index of its own
            query = select(InboxEntry).where(InboxEntry.state == state).order_by(InboxEntry.update_id).limit(limit)
            found.extend((await self.session.scalars(query)).all())
        return sorted(found, key=lambda entry: entry.update_id)[:limit]

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
        """Pending and dead entries (none of a state: not in the answer)."""
        counts = {state: int(await self.session.scalar(
                      select(func.count()).select_from(InboxEntry).where(InboxEntry.state == state)) or 0)
                  for state in ("pending", "dead")}
        return {state: count for state, count in counts.items() if count}

    async def dead_since(self, since: datetime) -> int:
        """Updates dead-lettered after `since`."""
        return int(await self.session.scalar(select(func.count()).select_from(InboxEntry).where(
            InboxEntry.state == "dead", InboxEntry.finished_at > since)) or 0)

    async def forget(self, before: datetime, batch: int = PRUNE_BATCH) -> int:
        """At most `batch` finished entries older than `before` (dead ones stay until an admin acts); how many.

        Read by the partial index `ix_inbox_finished` (its condition spelt exactly as here, which SQLite
        needs to use it): the cost of a run is the batch's, not the table's; the next run takes the rest.
        """
        if unwritten(self.session):
            await self.session.flush()
        driver = await Driver.of(self.session)
        old = [row[0] for row in await driver.rows(PRUNE, driver.when(before), batch)]
        return await driver.run("DELETE FROM inbox WHERE update_id = ANY($1)", driver.array(old)) if old else 0
