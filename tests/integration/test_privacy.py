"""Personal data (PIPL) on both backends: one merchant forgotten or exported; data past its retention pruned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from assistant.store.models import AuditEntry, Conversation, Diagnosis, RelayedMessage, Ticket, User, UserCompany
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat
from tests.factories import add_invoices, add_user, code12, invoice
from tests.stored import rows

MERCHANT, OTHER = 1000, 1002


@pytest.fixture
async def history(assistant, sessions, clock) -> None:
    """Two merchants who looked up invoices and asked for a person; one wrote in the ticket."""
    issued = clock.today - timedelta(days=30)
    await add_invoices(sessions, clock.now, invoice(code12(issued), "12345678", issued))
    for user_id in (MERCHANT, OTHER):
        await add_user(sessions, clock.now, user_id=user_id)
        chat = Chat(assistant, user_id, user_id)
        await chat.command("start")
        await chat.command("human")
    async with sessions() as session, session.begin():
        for user_id in (MERCHANT, OTHER):
            for outcome in ("found", "not_found"):
                await UnitOfWork(session).lookups.add(user_id=user_id, chat_id=user_id, outcome=outcome,
                                                      fields={"code": code12(issued), "number": "87654321"},
                                                      now=clock.now)
        await session.execute(User.__table__.update().values(name="张三"))
        for ticket in await rows(session, Ticket):
            ticket.merchant_name, ticket.fields = "张三", {"number": "87654321"}  # as a ticket after a lookup
        [ticket] = [t for t in await rows(session, Ticket) if t.user_id == MERCHANT]
        session.add(RelayedMessage(ticket_id=ticket.id, source_chat_id=MERCHANT, source_message_id=5,
                                   copy_chat_id=-100, copy_message_id=6, created_at=clock.now))


async def test_forget_erases_one_merchant_and_keeps_the_anonymous_counts(history, sessions, clock) -> None:
    async with sessions() as session:
        tickets_before = len(await rows(session, Ticket))
        outcomes_before = sorted(d.outcome for d in await rows(session, Diagnosis))
    async with sessions() as session, session.begin():
        changed = await UnitOfWork(session).privacy.forget(MERCHANT)
    assert changed["users"] == 1 and changed["tickets"] == 1 and changed["relayed_messages"] == 1
    async with sessions() as session:
        users = {u.id for u in await rows(session, User)}
        tickets = await rows(session, Ticket)
        lookups = await rows(session, Diagnosis)
        conversations = {c.user_id for c in (await session.scalars(select(Conversation))).all()}
        links = {c.user_id for c in (await session.scalars(select(UserCompany))).all()}
        relayed = await rows(session, RelayedMessage)
    assert MERCHANT not in users and OTHER in users
    assert len(tickets) == tickets_before  # still counted…
    mine = [t for t in tickets if t.user_id == 0]
    assert len(mine) == 1 and (mine[0].merchant_name, mine[0].fields, mine[0].chat_id) == ("", {}, 0)  # …nobody's
    other = [t for t in tickets if t.user_id == OTHER]
    assert other and other[0].merchant_name == "张三" and other[0].fields  # the other merchant keeps theirs
    assert sorted(d.outcome for d in lookups) == outcomes_before  # statistics unchanged
    assert {d.user_id for d in lookups} == {0, OTHER} and all(d.number == "" for d in lookups if d.user_id == 0)
    assert MERCHANT not in conversations and OTHER in conversations
    assert MERCHANT not in links and OTHER in links
    assert relayed == []
    async with sessions() as session:
        found = await UnitOfWork(session).privacy.export(MERCHANT)
    assert all(found_rows == [] for found_rows in found.values()), found


async def test_export_holds_what_is_stored_about_one_person(history, sessions) -> None:
    async with sessions() as session:
        found = await UnitOfWork(session).privacy.export(MERCHANT)
    assert [u["name"] for u in found["users"]] == ["张三"]
    assert len(found["tickets"]) == 1 and found["tickets"][0]["fields"]
    assert found["diagnoses"] and all(d["user_id"] == MERCHANT for d in found["diagnoses"])
    assert found["relayed_messages"][0]["source_message_id"] == 5
    assert found["conversations"][0]["chat_id"] == MERCHANT
    assert all(t["user_id"] == MERCHANT for t in found["tickets"])  # nothing of the other merchant


async def test_the_scheduler_prunes_what_is_past_its_retention(history, assistant, sessions, clock) -> None:
    async with sessions() as session, session.begin():
        for ticket in await rows(session, Ticket):
            if ticket.user_id == OTHER:
                ticket.state, ticket.closed_at = "closed", clock.now
        session.add(AuditEntry(actor_id=OTHER, action="refused", allowed=False, detail={"x": 1}, at=clock.now))
    await assistant.due()
    async with sessions() as session:
        assert all(d.user_id != 0 for d in await rows(session, Diagnosis))  # nothing is old yet
    clock.advance(days=181)  # lookups kept 180 days
    await assistant.due()
    async with sessions() as session:
        assert {d.user_id for d in await rows(session, Diagnosis)} == {0}
        assert all(t.merchant_name == "张三" for t in await rows(session, Ticket))  # tickets: a year
    clock.advance(days=185)
    await assistant.due()
    async with sessions() as session:
        tickets = await rows(session, Ticket)
        closed = [t for t in tickets if t.state == "closed"]
        assert closed and all(t.user_id == 0 and t.merchant_name == "" for t in closed)
        assert any(t.merchant_name == "张三" for t in tickets if t.state != "closed")  # open ones are in use
        assert not [a for a in await rows(session, AuditEntry) if a.action == "refused"]
        users = {u.id: u for u in await rows(session, User)}
    assert users[MERCHANT].name == "" and users[OTHER].name == ""  # a year without a conversation
