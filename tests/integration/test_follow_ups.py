"""Promises kept: "notify me when maintenance is over" and "check again for me later"."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.messages import DeliveryFailed
from assistant.outputs import Reply
from assistant.store.models import Diagnosis, FollowUp
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat
from tests.stored import rows
from tests.factories import add_invoices, add_user, code12, invoice


@pytest.fixture
async def merchant(sessions, clock) -> None:
    await add_user(sessions, clock.now)


async def maintenance(sessions, clock, hours: float = 2):
    async with sessions() as session, session.begin():
        return (await UnitOfWork(session).maintenance.add(starts_at=clock.now, ends_at=clock.now + timedelta(hours=hours),
                                                     message_zh="升级", message_en="upgrade", now=clock.now)).id


def texts(outputs) -> str:
    return "\n".join(o.text for o in outputs if isinstance(o, Reply))


async def test_notify_me_rerun_when_an_admin_ends_the_window(chat: Chat, assistant, settings, sessions, clock,
                                                             merchant) -> None:
    from tests.conftest import make_assistant

    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await maintenance(sessions, clock)
    assert "系统正在维护" in await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    await chat.press("notify")
    assert await assistant.due() == []  # still under maintenance
    clock.advance(minutes=30)
    async with sessions() as session, session.begin():
        await UnitOfWork(session).maintenance.end(clock.now)
    restarted = make_assistant(settings, sessions, clock)  # what is due lives in the database
    outputs = await restarted.due()
    text = texts(outputs)
    assert "系统维护已经结束" in text and "找到了，信息一致" in text
    assert all(o.chat_id == 1000 for o in outputs)
    assert outputs[-1].choices == ["find", "human", "menu"]  # the re-run result's own buttons work
    assert await restarted.due() == []  # exactly once
    async with sessions() as session:
        [follow_up] = await rows(session, FollowUp)
        assert follow_up.delivered_at == clock.now
        assert (await rows(session, Diagnosis))[-1].outcome == "found"


async def test_notify_me_when_the_expected_end_passes_and_extensions_postpone_it(chat: Chat, assistant, sessions,
                                                                                clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    window = await maintenance(sessions, clock, hours=1)
    await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    await chat.press("notify")
    async with sessions() as session, session.begin():  # an admin extends the window by an hour
        from assistant.store.models import MaintenanceWindow

        (await session.get(MaintenanceWindow, window)).ends_at = clock.now + timedelta(hours=2)
    clock.advance(minutes=61)
    assert await assistant.due() == []
    clock.advance(minutes=60)
    text = texts(await assistant.due())
    assert "系统维护已经结束" in text and "工单" in text  # re-run: not in the store, so a ticket


async def test_check_later_is_rerun_at_the_expected_time(chat: Chat, assistant, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=1)
    number = f"{issued.year % 100:02d}112000000087654321"
    await add_invoices(sessions, clock.now, invoice("", number, issued, "2000.00", kind="digital",
                                                    uploaded_at=clock.now - timedelta(hours=2)))
    await chat.say(f"号码 {number} 日期 {issued} 价税合计 2260")
    await chat.press("later")
    clock.advance(hours=21)
    assert await assistant.due() == []
    async with sessions() as session, session.begin():  # meanwhile the invoice was synchronised
        from sqlalchemy import update

        from assistant.store.models import Invoice

        await session.execute(update(Invoice).values(sync_state="synced", synced_at=clock.now))
    clock.advance(hours=2)
    text = texts(await assistant.due())
    assert "按约定" in text and "找到了，信息一致" in text


async def test_a_merchant_in_the_middle_of_something_gets_the_notice_only(chat: Chat, assistant, sessions, clock,
                                                                         merchant) -> None:
    issued = clock.today
    await chat.say(f"代码 {code12(issued)} 号码 55667788 日期 {issued} 校验码 123456")
    await chat.press("later")
    await chat.press("find")
    await chat.say("号码 11112222")
    clock.advance(days=2)
    outputs = await assistant.due()
    assert len(outputs) == 1 and "提醒您" in texts(outputs)
    async with sessions() as session:
        row, _ = await UnitOfWork(session).conversations.get(1000, 1000, initial="menu", now=clock.now)
    assert row.state == "collecting" and row.data["fields"] == {"number": "11112222"}  # nothing overwritten


async def test_unreachable_merchants_are_skipped_but_marked(chat: Chat, assistant, sessions, clock, merchant) -> None:
    await chat.say(f"代码 {code12(clock.today)} 号码 55667788 日期 {clock.today} 校验码 123456")
    await chat.press("later")
    await assistant.take([DeliveryFailed(Reply("…", chat_id=1000), "blocked")])  # the merchant blocked the bot
    clock.advance(days=2)
    assert await assistant.due() == []
    async with sessions() as session:
        assert (await rows(session, FollowUp))[0].delivered_at is not None
