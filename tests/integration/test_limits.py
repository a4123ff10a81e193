"""Lookup limits: nobody can enumerate invoice numbers, and repeated checks of one invoice stop."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.store.models import Diagnosis
from tests.conftest import Chat
from tests.stored import rows
from tests.factories import add_invoices, add_user, code12, invoice


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"distinct_invoices_per_hour": 3})


@pytest.fixture
async def merchant(sessions, clock) -> None:
    await add_user(sessions, clock.now)


def lookup(number: str, clock) -> str:
    issued = clock.today - timedelta(days=30)
    return f"代码 {code12(issued)} 号码 {number} 日期 {issued} 校验码 567890"


async def test_five_lookups_of_one_invoice_a_day(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    await add_invoices(sessions, clock.now, invoice(code12(issued), "12345678", issued))
    for _ in range(5):
        assert "找到了" in await chat.say(lookup("12345678", clock))
    text = await chat.say(lookup("12345678", clock))
    assert "今天已经查询了 5 次" in text and "明天 00:00" in text and "找到了" not in text
    assert "<code>12345678</code>" in text.split("\n")[0]  # which invoice hit the limit
    assert chat.buttons == ["human", "menu"]
    clock.advance(hours=14)  # the next day in Beijing
    assert "找到了" in await chat.say(lookup("12345678", clock))


async def test_a_cap_on_distinct_invoices_an_hour(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    await add_invoices(sessions, clock.now, *(invoice(code12(issued), n * 8, issued) for n in "1234"))
    for number in ("11111111", "22222222", "33333333"):
        assert "一小时内" not in await chat.say(lookup(number, clock))
        clock.advance(minutes=10)
    text = await chat.say(lookup("44444444", clock))
    assert "一小时内查询了 3 张不同的发票" in text and "今天 11:00" in text
    assert "工单" not in text  # refused before anything was looked up or opened
    assert "一小时内" not in await chat.say(lookup("11111111", clock))  # an invoice already seen is fine
    clock.advance(minutes=31)  # 11:01: 22222222 (10:10), 33333333 (10:20), 11111111 (10:30) in the last hour
    assert "今天 11:10" in await chat.say(lookup("44444444", clock))
    clock.advance(minutes=10)  # 11:11: only two left in the window
    assert "一小时内" not in await chat.say(lookup("44444444", clock))
    async with sessions() as session:
        outcomes = [d.outcome for d in await rows(session, Diagnosis)]
    assert outcomes.count("limited") == 2


async def test_staff_are_not_limited(chat: Chat, sessions, clock) -> None:
    await add_user(sessions, clock.now, role="staff", companies=())
    issued = clock.today - timedelta(days=30)
    await add_invoices(sessions, clock.now, *(invoice(code12(issued), n * 8, issued) for n in "12345"))
    for number in ("11111111", "22222222", "33333333", "44444444", "55555555"):
        assert "一小时内" not in await chat.say(lookup(number, clock))


async def test_a_digital_invoice_is_limited_by_its_number_whatever_code_is_typed(chat: Chat, sessions, clock,
                                                                                 merchant) -> None:
    issued = clock.today - timedelta(days=30)
    number = f"{issued.year % 100:02d}112000000087654321"
    await add_invoices(sessions, clock.now, invoice("", number, issued, "2000.00", kind="digital"))
    answers = [await chat.say(f"代码 {code12(issued, batch=f'{n}00')} 号码 {number} 日期 {issued} 价税合计 2260")
               for n in range(1, 8)]  # a different (meaningless) code each time: the lookup reads the number only
    assert ["今天已经查询了 5 次" in text for text in answers] == [False] * 5 + [True] * 2
