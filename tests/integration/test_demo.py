"""Every line the demo prints reaches the outcome it promises."""

from __future__ import annotations

from assistant.demo import DEMO_USER, seed_demo
from assistant.store.models import Invoice
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat
from tests.stored import rows


async def test_demo_cases_reach_their_outcomes(assistant, sessions, clock) -> None:
    async with sessions() as session, session.begin():
        cases = await seed_demo(UnitOfWork(session), clock.now, clock.today)
    assert {case.state for case in cases} >= {"found", "mismatch", "bad_status", "pending_sync", "no_permission",
                                               "too_recent", "other_region", "near_match", "handoff"}
    chat = Chat(assistant, DEMO_USER, DEMO_USER)
    for case in cases:
        await chat.command("cancel")
        await chat.say(case.typed)
        async with sessions() as session:
            row, _ = await UnitOfWork(session).conversations.get(DEMO_USER, DEMO_USER, initial="menu", now=clock.now)
        assert row.state == case.state, case


async def test_seeding_twice_is_harmless(sessions, clock) -> None:
    for _ in range(2):
        async with sessions() as session, session.begin():
            await seed_demo(UnitOfWork(session), clock.now, clock.today)
    async with sessions() as session:
        assert len(await rows(session, Invoice)) == 7
