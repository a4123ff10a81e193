"""The core on the memory store: whole conversations in milliseconds, no database.

The store contract suite (`tests/integration/test_store_contract.py`) keeps the memory store honest.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from assistant.core import Assistant
from assistant.importer import InvoiceRecord, invoice_values
from assistant.messages import Text
from assistant.outputs import OpenTopic, Reply
from assistant.settings import Settings
from assistant.store.memory import MemoryDatabase
from assistant.store.models import Diagnosis, FollowUp, Invoice, Ticket
from tests.conftest import SUPPORT_CHAT, Chat, FakeClock, delivering
from tests.factories import MINE, code12, invoice


@pytest.fixture
def database() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def core(database: MemoryDatabase, clock: FakeClock) -> Assistant:
    from bot import build_assistant

    settings = Settings(database_url="sqlite+aiosqlite://", support_chat_id=SUPPORT_CHAT,  # never opened
                        _env_file=None)  # type: ignore[call-arg]
    async with database.unit_of_work() as store:
        await store.users.save(1000, role="merchant", language=None, companies=[MINE], now=clock.now)
    return delivering(build_assistant(settings, database.unit_of_work, clock)[0])


@pytest.fixture
def chat(core: Assistant) -> Chat:
    return Chat(core)


async def add_invoice(database: MemoryDatabase, record: InvoiceRecord, clock: FakeClock) -> None:
    async with database.unit_of_work() as store:
        await store.invoices.add(Invoice(**invoice_values(record, clock.now)))


def rows(database: MemoryDatabase, model: type) -> list[dict]:
    return list(database.tables.get(model, {}).values())


async def test_found_everything_matches(chat: Chat, database: MemoryDatabase, clock: FakeClock) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoice(database, invoice(code, "12345678", issued, synced_at=clock.now - timedelta(days=1)), clock)
    text = await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    assert "找到了，信息一致" in text and "¥1,130.00" in text
    assert chat.buttons == ["find", "human", "menu"]
    assert [row["outcome"] for row in rows(database, Diagnosis)] == ["found"]


async def test_not_found_opens_a_ticket_for_the_support_group(chat: Chat, database: MemoryDatabase,
                                                              clock: FakeClock) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued, batch="500")
    outputs = await chat.send(Text, text=f"代码 {code} 号码 77889900 日期 {issued} 校验码 123456")
    [ticket] = rows(database, Ticket)
    assert ticket["reason"] == "not_found" and ticket["state"] == "open"
    assert ticket["fields"]["number"] == "77889900"
    assert any(f"#{ticket['id']}" in o.text for o in outputs if isinstance(o, Reply) and o.chat_id == 1000)
    [topic] = [o for o in outputs if isinstance(o, OpenTopic)]
    assert topic.chat_id == SUPPORT_CHAT and topic.ticket_id == ticket["id"]


async def test_check_later_reruns_the_lookup_when_it_falls_due(chat: Chat, core: Assistant,
                                                               database: MemoryDatabase, clock: FakeClock) -> None:
    issued = clock.today - timedelta(days=1)
    number = f"{issued.year % 100:02d}112000000087654321"
    record = invoice("", number, issued, "2000.00", kind="digital", uploaded_at=clock.now - timedelta(hours=2))
    await add_invoice(database, record, clock)
    assert "尚未完成同步" in await chat.say(f"号码 {number} 日期 {issued} 价税合计 2260")
    assert "我会在" in await chat.press("later")
    assert await core.due() == []  # not yet
    async with database.unit_of_work() as store:  # the platform synced it meanwhile
        [found] = await store.invoices.by_number(number)
        found.sync_state, found.synced_at = "synced", clock.now + timedelta(hours=1)
    clock.advance(hours=23)
    outputs = await core.due()
    assert any("找到了" in o.text for o in outputs if isinstance(o, Reply) and o.chat_id == 1000)
    assert await core.due() == []  # exactly once
    [follow_up] = rows(database, FollowUp)
    assert follow_up["delivered_at"] == clock.now


async def test_a_bad_status_is_explained(chat: Chat, database: MemoryDatabase, clock: FakeClock) -> None:
    issued = clock.today - timedelta(days=10)
    code = code12(issued, kind="04")
    record = replace(invoice(code, "22334455", issued, status="voided", seller_name="北京某某商贸有限公司"),
                     synced_at=clock.now - timedelta(days=1))
    await add_invoice(database, record, clock)
    text = await chat.say(f"代码 {code} 号码 22334455 日期 {issued} 校验码 567890")
    assert "作废" in text and "北京某某商贸有限公司" in text
