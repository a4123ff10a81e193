"""One contract for the store, run against memory, SQLite and PostgreSQL (as aiogram does for its storages).

Fast core tests run on the memory store; this suite is what makes that honest: every repository
behaves the same over every backend, as seen through units of work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest

from assistant.importer import invoice_values
from assistant.outputs import Copy, Reply
from assistant.store.engine import make_engine, make_sessions
from assistant.store.inbox import Received
from assistant.store.memory import MemoryDatabase
from assistant.store.models import Invoice
from assistant.store.uow import Units, sql_units
from tests.conftest import START, clear_database
from tests.factories import MINE, STRANGER, SUPPLIER, code12, invoice

NOW = START
LEASE = timedelta(seconds=30)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def units(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> AsyncIterator[Units]:
    """Units of work over an empty store of each kind."""
    if request.param == "memory":
        yield MemoryDatabase().unit_of_work
        return
    if request.param not in database_urls:
        pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
    engine = make_engine(database_urls[request.param])
    sessions = make_sessions(engine)
    async with sessions() as session, session.begin():
        await clear_database(session)
    yield sql_units(sessions)
    await engine.dispose()


async def test_a_unit_that_fails_leaves_nothing(units: Units) -> None:
    with pytest.raises(RuntimeError):
        async with units() as store:
            await store.users.ensure(1, language="zh", name="A", now=NOW)
            raise RuntimeError("the handler failed")
    async with units() as store:
        assert await store.users.get(1) is None


async def test_users(units: Units) -> None:
    async with units() as store:
        created = await store.users.ensure(1, language="en", name="Ann", now=NOW)
        assert (created.role, created.language, created.unreachable) == ("merchant", "en", False)
        await store.users.save(2, role="admin", language=None, companies=[MINE, SUPPLIER], now=NOW, name="Bo")
        await store.users.set_unreachable(1)
    async with units() as store:
        assert (await store.users.get(1)).unreachable  # type: ignore[union-attr]
        again = await store.users.ensure(1, language="zh", name="Anna", now=NOW)
        assert (again.language, again.name, again.unreachable) == ("en", "Anna", False)  # a message: reachable
        assert await store.users.companies_of(2) == {MINE, SUPPLIER}
        assert [admin.id for admin in await store.users.admins()] == [2]
        assert await store.users.ensure_admins([2, 3], NOW) == [3]
    async with units() as store:
        assert [(user.id, user.role, companies) for user, companies in await store.users.all()] == [
            (1, "merchant", []), (2, "admin", sorted([MINE, SUPPLIER])), (3, "admin", [])]


async def test_conversations_keep_state_fields_and_version(units: Units) -> None:
    async with units() as store:
        conversation, new = await store.conversations.get(10, 1, initial="menu", now=NOW)
        assert new and (conversation.state, conversation.data, conversation.version) == ("menu", {}, 0)
        version = await store.conversations.save(conversation, flow="troubleshoot", state="collecting",
                                                 data={"fields": {"number": "12345678"}}, now=NOW)
        assert version == 1
    async with units() as store:
        conversation, new = await store.conversations.get(10, 1, initial="menu", now=NOW)
        assert not new
        assert (conversation.state, conversation.data, conversation.version) == (
            "collecting", {"fields": {"number": "12345678"}}, 1)
        data = conversation.data
        data["fields"]["code"] = "011002600111"
        await store.conversations.save(conversation, flow="ticket", state="open", data=data, now=NOW)
    async with units() as store:
        conversation, _ = await store.conversations.get(10, 1, initial="menu", now=NOW)
        assert (conversation.flow, conversation.data["fields"]["code"], conversation.version) == (
            "ticket", "011002600111", 2)


async def test_invoices_found_by_identifiers_and_near_ones(units: Units) -> None:
    issued = START.date() - timedelta(days=10)
    code = code12(issued)
    digital = "2611" + "2" * 16
    async with units() as store:
        for record in (invoice(code, "12345678", issued), invoice(code, "12345679", issued, "2000.00"),
                       invoice("", digital, issued, seller=STRANGER, buyer=STRANGER, kind="digital")):
            await store.invoices.add(Invoice(**invoice_values(record, NOW)))
    async with units() as store:
        found = await store.invoices.find(code, "12345678")
        assert found is not None and found.amount == Decimal("1000.00")
        assert await store.invoices.find(code12(issued, batch="200"), "12345678") is None
        assert (await store.invoices.find(None, digital)) is not None  # a 20-digit number needs no code
        assert [i.number for i in await store.invoices.by_number("12345679")] == ["12345679"]
        near = await store.invoices.near(code=code, number="12345670", codes=[], numbers=["12345678"],
                                         issued=None, money=None, tax_ids=None)
        assert [i.number for i in near] == ["12345678"]
        by_money = await store.invoices.near(code=None, number="00000000", codes=[], numbers=[], issued=issued,
                                             money=Decimal("2000.00"), tax_ids={MINE})
        assert [i.number for i in by_money] == ["12345679"]
        assert await store.invoices.near(code=None, number="00000000", codes=[], numbers=[], issued=issued,
                                         money=Decimal("2000.00"), tax_ids=set()) == []
        invoice_id = found.id
        assert await store.access.add(user_id=1, invoice_id=invoice_id, now=NOW)
        assert not await store.access.add(user_id=1, invoice_id=invoice_id, now=NOW)  # asked once


async def test_near_match_branches_each_find_their_candidates_and_only_permitted_ones(units: Units) -> None:
    """The near-match search's branches one at a time: a number one typo away (same code), a code one typo
    away (same number), the same day with the same total or the same amount; the permission filter on each
    branch's candidates; latest first, at most `limit`."""
    issued = START.date() - timedelta(days=10)
    code, other_code = code12(issued), code12(issued, batch="200")
    records = [invoice(code, "12345678", issued),  # a number variant of 12345670
               invoice(other_code, "12345670", issued - timedelta(days=1)),  # a code variant, same number
               invoice(code, "22222222", issued, "3000.00"),  # same day, amount 3000.00 / total 3390.00
               invoice(code, "33333333", issued, "3000.00", seller=STRANGER, buyer=STRANGER),  # not the user's
               invoice(code, "44444444", issued - timedelta(days=2), "3000.00"),  # same amount, another day
               invoice(code, "55555555", issued, seller=STRANGER, buyer=STRANGER)]  # a variant, not the user's
    async with units() as store:
        for record in records:
            await store.invoices.add(Invoice(**invoice_values(record, NOW)))
    numbers = ["12345678", "55555555", "99999999"]

    async def near(**asked: object) -> list[str]:
        fields: dict[str, object] = {"code": code, "number": "12345670", "codes": [], "numbers": [], "issued": None,
                                     "money": None, "tax_ids": None, **asked}
        async with units() as store:
            return [i.number for i in await store.invoices.near(**fields)]  # type: ignore[arg-type]

    assert await near(numbers=numbers) == ["12345678", "55555555"]  # same day: either order would do
    assert await near(numbers=numbers, tax_ids={MINE}) == ["12345678"]
    assert await near(codes=[other_code, code12(issued, batch="300")], tax_ids={SUPPLIER}) == ["12345670"]
    assert await near(codes=[other_code], code=None) == []  # no code given: no code variants
    assert sorted(await near(issued=issued, money=Decimal("3390.00"))) == ["22222222", "33333333"]  # by total
    assert await near(issued=issued, money=Decimal("3000.00"), tax_ids={MINE}) == ["22222222"]  # by amount
    assert await near(issued=issued, money=Decimal("3000.00"), tax_ids={"91110000000000000X"}) == []
    assert await near(issued=issued, money=None) == []  # a day without an amount is no branch
    everything = await near(numbers=numbers, codes=[other_code], issued=issued, money=Decimal("3000.00"),
                            tax_ids={MINE, SUPPLIER})
    assert sorted(everything[:2]) == ["12345678", "22222222"] and everything[2:] == ["12345670"]
    assert len(await near(numbers=numbers, codes=[other_code], issued=issued, money=Decimal("3000.00"),
                          limit=2)) == 2


async def test_the_inbox_is_pruned_in_bounded_batches(units: Units) -> None:
    async with units() as store:
        await store.inbox.receive([_update(n, 10 + n) for n in range(1, 6)], NOW)
        for n in range(1, 6):
            assert await store.inbox.drop(n, NOW)
    pruned = []
    for _ in range(4):
        async with units() as store:
            pruned.append(await store.inbox.forget(NOW + timedelta(days=1), batch=2))
    assert pruned == [2, 2, 1, 0]


async def test_lookups(units: Units) -> None:
    async with units() as store:
        for minutes, outcome, number in ((1, "found", "1"), (2, "limited", "2"), (3, "not_found", "3")):
            await store.lookups.add(user_id=1, chat_id=1, fields={"code": "c", "number": number}, outcome=outcome,
                                    now=NOW + timedelta(minutes=minutes))
        await store.lookups.add(user_id=2, chat_id=2, fields={}, outcome="found", now=NOW - timedelta(days=1))
    async with units() as store:
        assert [(code, number) for code, number, _ in await store.lookups.recent(1, NOW)] == [("c", "1"), ("c", "3")]
        assert await store.lookups.outcome_counts(NOW) == {"found": 1, "limited": 1, "not_found": 1}


async def test_maintenance_windows(units: Units) -> None:
    hour = timedelta(hours=1)
    async with units() as store:
        await store.maintenance.add(starts_at=NOW - 3 * hour, ends_at=NOW - 2 * hour, message_zh="旧", message_en="",
                                    now=NOW)
        running = await store.maintenance.add(starts_at=NOW - hour, ends_at=NOW + hour, message_zh="现在",
                                              message_en="now", now=NOW)
        await store.maintenance.add(starts_at=NOW + 5 * hour, ends_at=NOW + 6 * hour, message_zh="后来",
                                    message_en="", now=NOW)
        await store.maintenance.add(starts_at=NOW + 2 * hour, ends_at=NOW + 3 * hour, message_zh="稍后",
                                    message_en="", now=NOW)
        running_id = running.id
    async with units() as store:
        active = await store.maintenance.active(NOW)
        assert active is not None and active.id == running_id
        assert [w.message_zh for w in await store.maintenance.upcoming(NOW)] == ["稍后", "后来"]
        assert [w.message_zh for w in await store.maintenance.all()] == ["后来", "稍后", "现在", "旧"]
        assert [w.id for w in await store.maintenance.extend(NOW + 4 * hour, NOW)] == [running_id]
    async with units() as store:
        assert await store.maintenance.active(NOW + 3 * hour) is not None
        assert [w.id for w in await store.maintenance.end(NOW)] == [running_id]
    async with units() as store:
        assert await store.maintenance.active(NOW) is None


async def test_tickets_queue_claim_relay_and_close(units: Units) -> None:
    async with units() as store:
        first = await store.tickets.add(user_id=1, chat_id=1, reason="not_found", language="zh",
                                        fields={"number": "1"}, checks=[], now=NOW)
        second = await store.tickets.add(user_id=2, chat_id=2, reason="asked", language="en", fields={}, checks=[],
                                         now=NOW + timedelta(minutes=1))
        first.escalate_at = NOW + timedelta(minutes=5)
        await store.tickets.add_event(ticket_id=first.id, event="open", state="open", actor_id=1, detail={}, now=NOW)
        first_id, second_id = first.id, second.id
    async with units() as store:
        assert [t.id for t in await store.tickets.without_topic()] == [first_id, second_id]
        assert [t.id for t in await store.tickets.queue()] == [first_id, second_id]
        assert await store.tickets.queue_position(await store.tickets.get(second_id)) == 2  # type: ignore[arg-type]
        assert [t.id for t in await store.tickets.due_escalations(NOW + timedelta(minutes=5))] == [first_id]
        ticket = await store.tickets.active(1)
        assert ticket is not None and ticket.id == first_id
        ticket.state, ticket.assignee_id, ticket.topic_id = "claimed", 500, 77
        ticket.claimed_at = NOW + timedelta(minutes=4)
        await store.tickets.add_relayed(ticket_id=first_id, source_chat_id=1, pairs=[(10, 910), (11, 911)],
                                        copy_chat_id=-100, now=NOW)
        await store.tickets.add_relayed(ticket_id=first_id, source_chat_id=1, pairs=[(10, 910)], copy_chat_id=-100,
                                        now=NOW)  # delivered twice: recorded once
    async with units() as store:
        assert [t.id for t in await store.tickets.queue()] == [second_id]
        assert [t.id for t in await store.tickets.without_topic()] == [second_id]
        assert (await store.tickets.by_topic(77)).id == first_id  # type: ignore[union-attr]
        assert await store.tickets.counterpart(first_id, 1, 11) == 911
        assert await store.tickets.counterpart(first_id, -100, 910) == 10
        assert await store.tickets.counterpart(first_id, 1, 12) is None
        assert await store.tickets.claim_waits(NOW) == [4.0]
        ticket = await store.tickets.get(first_id)
        assert ticket is not None
        ticket.state, ticket.closed_at = "closed", NOW + timedelta(minutes=9)
    async with units() as store:
        assert await store.tickets.active(1) is None
        assert (await store.tickets.last_closed(1)).id == first_id  # type: ignore[union-attr]
        assert await store.tickets.counts(NOW) == (2, 1)
        assert (await store.tickets.opened_since(1, NOW), await store.tickets.opened_since(2, NOW + timedelta(
            seconds=61))) == (1, 0)
        assert [t.id for t in await store.tickets.all(2)] == [second_id]
        assert [e.event for e in await store.tickets.events(first_id)] == ["open"]


async def test_follow_ups_fall_due_once(units: Units) -> None:
    async with units() as store:
        window = await store.maintenance.add(starts_at=NOW, ends_at=NOW + timedelta(hours=2), message_zh="维护",
                                             message_en="", now=NOW)
        assert await store.follow_ups.add(kind="recheck", user_id=1, chat_id=1, fields={"number": "1"},
                                          due_at=NOW + timedelta(hours=1), now=NOW)
        assert not await store.follow_ups.add(kind="recheck", user_id=1, chat_id=1, fields={"number": "1"},
                                              due_at=NOW + timedelta(hours=1), now=NOW)  # promised already
        assert await store.follow_ups.add(kind="maintenance_over", user_id=2, chat_id=2, fields={},
                                          due_at=NOW + timedelta(hours=2), now=NOW, window_id=window.id)
        window_id = window.id
    async with units() as store:
        assert await store.follow_ups.due(NOW) == []
        assert await store.follow_ups.waiting_notices([window_id]) == 1
        [(recheck_id, chat)] = await store.follow_ups.due(NOW + timedelta(hours=1))
        assert chat == 1
        await store.maintenance.end(NOW + timedelta(minutes=90))  # ended early: its notices fall due
        due = await store.follow_ups.due(NOW + timedelta(minutes=90))
        assert [chat for _, chat in due] == [1, 2]
        follow_up = await store.follow_ups.get(recheck_id)
        assert follow_up is not None and follow_up.fields == {"number": "1"}
        follow_up.delivered_at = NOW + timedelta(minutes=90)
    async with units() as store:
        assert [chat for _, chat in await store.follow_ups.due(NOW + timedelta(hours=3))] == [2]


async def test_audit_log_newest_first(units: Units) -> None:
    async with units() as store:
        for action in ("a", "b", "c"):
            await store.audit.add(actor_id=1, action=action, allowed=True, detail={"n": action}, now=NOW)
        await store.audit.add(actor_id=None, action="old", allowed=False, detail={}, now=NOW - timedelta(days=1))
    async with units() as store:
        assert [e.action for e in await store.audit.entries()] == ["c", "b", "a", "old"]
        assert [e.action for e in await store.audit.entries(limit=2)] == ["c", "b"]


async def test_outbox_claims_what_a_stopped_sender_left(units: Units) -> None:
    async with units() as store:
        sent, left = await store.outbox.enqueue([Reply("hi", chat_id=1), Copy(from_chat_id=1, message_ids=(5,),
                                                                              to_chat_id=-100, ticket_id=1)],
                                                NOW, LEASE)
        assert sent.outbox_id is not None and left.outbox_id == sent.outbox_id + 1
        await store.outbox.mark_sent([sent.outbox_id], NOW)
        assert not await store.outbox.mark_sent_once(sent.outbox_id, NOW)
    async with units() as store:
        assert await store.outbox.claim_unsent(NOW, LEASE, max_attempts=3) == []  # still leased
        [again] = await store.outbox.claim_unsent(NOW + LEASE * 2, LEASE, max_attempts=3)
        assert again == left
        assert await store.outbox.claim_unsent(NOW + LEASE * 2, LEASE, max_attempts=3) == []  # leased again
        assert await store.outbox.claim_unsent(NOW + LEASE * 4, LEASE, max_attempts=3) != []  # third attempt
        assert await store.outbox.claim_unsent(NOW + LEASE * 6, LEASE, max_attempts=3) == []  # given up
        await store.outbox.forget(NOW + LEASE * 7)
    async with units() as store:
        assert await store.outbox.mark_sent_once(left.outbox_id, NOW) is False  # type: ignore[arg-type]


async def test_broadcasts_reach_active_reachable_merchants(units: Units) -> None:
    async with units() as store:
        for user_id in (1, 2, 3):
            await store.users.ensure(user_id, language="zh", name="", now=NOW)
            await store.conversations.get(user_id, user_id, initial="menu", now=NOW)
        await store.users.ensure(9, language="zh", name="", now=NOW, role="admin")
        await store.conversations.get(9, 9, initial="menu", now=NOW)
        await store.users.set_unreachable(3)
        await store.follow_ups.add(kind="recheck", user_id=2, chat_id=2, fields={}, due_at=NOW, now=NOW)
    async with units() as store:
        assert await store.broadcasts.audience_size("active", NOW - timedelta(days=1)) == 2
        assert await store.broadcasts.audience_size("subscribers", NOW - timedelta(days=1)) == 1
        broadcast = await store.broadcasts.create(created_by=9, audience="active", text="通知",
                                                  since=NOW - timedelta(days=1), now=NOW)
        assert broadcast.total == 2
        broadcast_id = broadcast.id
    async with units() as store:
        assert [b.id for b in await store.broadcasts.running()] == [broadcast_id]
        assert await store.broadcasts.pending_recipients(broadcast_id, 10) == [1, 2]
        assert await store.broadcasts.set_recipient(broadcast_id, 1, "sending", NOW, only_if="pending")
        assert not await store.broadcasts.set_recipient(broadcast_id, 1, "sending", NOW, only_if="pending")
        await store.broadcasts.set_recipient(broadcast_id, 1, "sent", NOW)
        assert await store.broadcasts.recipient_counts(broadcast_id) == {"sent": 1, "pending": 1}
        (await store.broadcasts.get(broadcast_id)).progress_message_id = -1  # type: ignore[union-attr]
        await store.broadcasts.progress_posted(broadcast_id, 55)
        await store.broadcasts.progress_posted(broadcast_id, 66)  # a report delivered twice changes nothing
    async with units() as store:
        broadcast = await store.broadcasts.get(broadcast_id)
        assert broadcast is not None and broadcast.progress_message_id == 55
        broadcast.state = "done"
    async with units() as store:
        assert await store.broadcasts.running() == []


def _update(update_id: int, chat_id: int, album: str | None = None) -> Received:
    return Received(update_id=update_id, chat_id=chat_id, user_id=chat_id, kind="message",
                    payload={"update_id": update_id}, album=album)


async def test_inbox_one_chat_in_order_other_chats_at_once(units: Units) -> None:
    async with units() as store:
        await store.inbox.receive([_update(1, 10), _update(2, 10), _update(3, 20)], NOW)
        await store.inbox.receive([_update(1, 10)], NOW)  # delivered again: stored once
    async with units() as store:
        batches = await store.inbox.claim(NOW, lease=LEASE, limit=10, busy=(), album_wait=timedelta(seconds=1))
        assert [b.ids for b in batches] == [[1], [3]]  # the chat's first update only, and the other chat's
        assert all(b.attempts == 1 for b in batches)  # counted before handling
        assert await store.inbox.claim(NOW, lease=LEASE, limit=10, busy=(), album_wait=timedelta(seconds=1)) == []
        assert await store.inbox.finish([1], NOW, sending=True) == 1
        assert await store.inbox.finish([1], NOW) == 0  # done already
    async with units() as store:
        # its outputs are being sent: the chat's next update waits for them
        assert await store.inbox.claim(NOW + LEASE / 2, lease=LEASE, limit=10, busy={20},
                                       album_wait=timedelta(seconds=1)) == []
        await store.inbox.sent([1])
        [batch] = await store.inbox.claim(NOW + LEASE / 2, lease=LEASE, limit=10, busy={20},
                                          album_wait=timedelta(seconds=1))
        assert batch.ids == [2]
        await store.inbox.release([2], retry_at=NOW + LEASE * 5, error="Failed: boom")
        await store.inbox.finish([3], NOW, state="dead", error="too big")
    async with units() as store:
        assert await store.inbox.counts() == {"pending": 1, "dead": 1}
        assert [e.update_id for e in await store.inbox.entries(("dead",))] == [3]
        assert (await store.inbox.entry(2)).error == "Failed: boom"  # type: ignore[union-attr]
        assert await store.inbox.retry(3) and not await store.inbox.retry(2)
        assert await store.inbox.drop(2, NOW)
    async with units() as store:
        entry = await store.inbox.entry(3)
        assert entry is not None and (entry.state, entry.attempts) == ("pending", 0)
        await store.inbox.forget(NOW + timedelta(days=1))
    async with units() as store:
        assert await store.inbox.entry(1) is None and await store.inbox.entry(2) is None
        assert await store.inbox.entry(3) is not None


async def test_inbox_claims_only_the_chats_asked_for(units: Units) -> None:
    async with units() as store:
        await store.inbox.receive([_update(1, 10), _update(2, 20), _update(3, 30), _update(4, 30)], NOW)
    async with units() as store:
        batches = await store.inbox.claim(NOW, lease=LEASE, limit=10, busy=(), album_wait=timedelta(seconds=1),
                                          only={30, 40})
        assert [b.ids for b in batches] == [[3]]
        assert await store.inbox.claim(NOW, lease=LEASE, limit=10, busy=(), album_wait=timedelta(seconds=1),
                                       only=set()) == []
        batches = await store.inbox.claim(NOW, lease=LEASE, limit=10, busy=(), album_wait=timedelta(seconds=1))
        assert [b.ids for b in batches] == [[1], [2]]  # the others were left as they were


async def test_inbox_albums_are_taken_whole_once_complete(units: Units) -> None:
    async with units() as store:
        await store.inbox.receive([_update(1, 10, "a"), _update(2, 10, "a")], NOW)
        await store.inbox.receive([_update(3, 10, "a")], NOW + timedelta(milliseconds=500))
    wait = timedelta(seconds=1)
    async with units() as store:
        assert await store.inbox.claim(NOW + timedelta(milliseconds=900), lease=LEASE, limit=5, busy=(),
                                       album_wait=wait) == []  # more photos may be coming
        [batch] = await store.inbox.claim(NOW + timedelta(seconds=2), lease=LEASE, limit=5, busy=(),
                                          album_wait=wait)
        assert batch.ids == [1, 2, 3]


async def test_users_unlink_remove_and_personal_data(units: Units) -> None:
    from datetime import timedelta

    async with units() as store:
        await store.users.save(1, role="merchant", language="zh", companies=[MINE, SUPPLIER], now=NOW, name="张三")
        await store.users.save(2, role="merchant", language="zh", companies=[MINE], now=NOW, name="李四")
        for user_id in (1, 2):
            await store.conversations.get(user_id, user_id, initial="menu", now=NOW)
            await store.lookups.add(user_id=user_id, chat_id=user_id, fields={"number": "12345678"}, outcome="found",
                                    now=NOW)
    async with units() as store:
        assert await store.users.unlink(1, [SUPPLIER, "none"]) == 1
        assert await store.users.companies_of(1) == {MINE}
        exported = await store.privacy.export(1)
        assert [u["name"] for u in exported["users"]] == ["张三"] and len(exported["diagnoses"]) == 1
        changed = await store.privacy.forget(1)
        assert changed["users"] == 1 and changed["diagnoses"] == 1 and changed["conversations"] == 1
    async with units() as store:
        assert all(rows == [] for rows in (await store.privacy.export(1)).values())
        assert await store.lookups.outcome_counts(NOW - timedelta(days=1)) == {"found": 2}  # counted, anonymous
        assert (await store.users.get(2)).name == "李四"  # type: ignore[union-attr]
        later = NOW + timedelta(days=400)
        changed = await store.privacy.prune(lookups_before=later, tickets_before=later, audit_before=later,
                                            inactive_before=later)
        assert changed == {"diagnoses": 1, "conversations": 1, "users": 1}
        assert (await store.users.get(2)).name == ""  # type: ignore[union-attr]
        assert await store.users.remove(2) and not await store.users.remove(2)
        assert await store.users.get(2) is None


async def test_tickets_served_times_and_ratings(units: Units) -> None:
    from assistant.domain.service import Served

    async with units() as store:
        ticket = await store.tickets.add(user_id=1, chat_id=1, reason="human", language="zh", fields={}, checks=[],
                                         now=NOW)
        other = await store.tickets.add(user_id=2, chat_id=2, reason="human", language="zh", fields={}, checks=[],
                                        now=NOW)
    async with units() as store:
        # the merchant's message copied into the group, then staff's answer copied to the merchant, twice
        await store.tickets.add_relayed(ticket_id=ticket.id, source_chat_id=1, pairs=[(10, 110)], copy_chat_id=-100,
                                        now=NOW + timedelta(minutes=1))
        await store.tickets.add_relayed(ticket_id=ticket.id, source_chat_id=-100, pairs=[(111, 11)], copy_chat_id=1,
                                        now=NOW + timedelta(minutes=4))
        await store.tickets.add_relayed(ticket_id=ticket.id, source_chat_id=-100, pairs=[(112, 12)], copy_chat_id=1,
                                        now=NOW + timedelta(minutes=9))
        stored = await store.tickets.get(ticket.id)
        assert stored is not None
        stored.assignee_id, stored.closed_at, stored.rating, stored.state = 500, NOW + timedelta(hours=1), 4, "closed"
    async with units() as store:
        served = sorted(await store.tickets.served(NOW - timedelta(days=1)), key=lambda s: s.first_reply_at is None)
        assert served == [Served(NOW, 500, NOW + timedelta(minutes=4), NOW + timedelta(hours=1), 4),
                          Served(NOW, None, None, None, None)]
        assert other.id != ticket.id
        assert await store.tickets.served(NOW + timedelta(days=1)) == []


async def test_the_retention_prune_takes_the_oldest_batch_of_each_kind(units: Units) -> None:
    """Each kind past its retention goes a batch at a time, oldest first; what is younger, or still in use, stays."""
    old, young = NOW - timedelta(days=400), NOW - timedelta(days=10)
    day = timedelta(days=1)
    async with units() as store:
        record = invoice(code12(NOW.date()), "12345678", NOW.date())
        await store.invoices.add(Invoice(**invoice_values(record, NOW)))
        found = await store.invoices.find(record.code, record.number)
        assert found is not None
        for user_id in (1, 2, 3, 4):
            await store.users.ensure(user_id, language="zh", name=f"商户{user_id}", now=old)
            await store.conversations.get(user_id, user_id, initial="idle", now=old + user_id * day if user_id < 4
                                          else young)
            await store.lookups.add(user_id=user_id, chat_id=user_id, fields={"code": "1", "number": "2"},
                                    outcome="found", now=old + user_id * day if user_id < 4 else young)
            await store.follow_ups.add(kind="recheck", user_id=user_id, chat_id=user_id, fields={"n": str(user_id)},
                                       due_at=old + user_id * day, now=old)
            await store.access.add(user_id=user_id, invoice_id=found.id, now=old + user_id * day)
            await store.audit.add(actor_id=user_id, action="stats", allowed=True, detail={}, now=old + user_id * day)
            ticket = await store.tickets.add(user_id=user_id, chat_id=user_id, reason="human", language="zh",
                                             fields={"number": "2"}, checks=[], now=old)
            ticket.state, ticket.closed_at = "closed", old + user_id * day
        broadcast = await store.broadcasts.create(created_by=9, audience="all", text="通知", since=old, now=old)
        assert broadcast.total == 4
        (await store.broadcasts.get(broadcast.id)).finished_at = old + day  # type: ignore[union-attr]
        for user_id in (1, 2, 3):
            due = await store.follow_ups.get(next(i for i, chat in await store.follow_ups.due(NOW) if chat == user_id))
            due.delivered_at = old + user_id * day  # type: ignore[union-attr]

    cutoff = NOW - timedelta(days=365)

    async def prune() -> dict[str, int]:
        async with units() as store:
            return await store.privacy.prune(lookups_before=cutoff, tickets_before=cutoff, audit_before=cutoff,
                                             inactive_before=cutoff, batch=2)

    first = await prune()
    first.pop("ticket_events", None)  # the tickets' history: none was written here
    assert first == {"diagnoses": 2, "tickets": 2, "follow_ups": 2,
                     "access_requests": 2, "audit_log": 2, "broadcast_recipients": 2, "conversations": 2, "users": 2}
    async with units() as store:
        assert [(u.id, u.name) for u, _ in sorted(await store.users.all(), key=lambda pair: pair[0].id)] == [
            (1, ""), (2, ""), (3, "商户3"), (4, "商户4")]  # the oldest chats first
        exported = await store.privacy.export(1)
        assert exported["follow_ups"] == exported["access_requests"] == exported["audit_log"] == []
        assert exported["diagnoses"] == [] and exported["tickets"] == []  # made anonymous: nobody's any more
        assert len((await store.privacy.export(3))["follow_ups"]) == 1
    second = await prune()
    assert (second["diagnoses"], second["follow_ups"], second["conversations"], second["users"]) == (1, 1, 1, 1)
    assert (second["access_requests"], second["audit_log"], second["broadcast_recipients"]) == (2, 2, 2)
    assert await prune() == {}  # merchant 4 looked up and wrote 10 days ago; its follow-up is not delivered
    async with units() as store:
        four = await store.privacy.export(4)
        assert [u["name"] for u in four["users"]] == ["商户4"] and len(four["diagnoses"]) == 1
        assert len(four["conversations"]) == 1 and len(four["follow_ups"]) == 1
