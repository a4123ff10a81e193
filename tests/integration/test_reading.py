"""Invoice photos and files through the core: read, confirmed, then the same checks as typed input."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
import segno

from assistant.messages import Attachment, ButtonPress, FileSent
from assistant.outputs import Copy
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat
from tests.factories import add_invoices, add_user, code12, invoice
from tests.unit.test_documents import text_pdf


@pytest.fixture
async def merchant(sessions, clock) -> None:
    await add_user(sessions, clock.now)


def qr_png(payload: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(payload).save(buffer, kind="png", scale=6)
    return buffer.getvalue()


def attachment(data: bytes, kind: str = "photo", name: str = "", calls: list | None = None) -> Attachment:
    async def fetch(limit: int = 0) -> bytes:
        if calls is not None:
            calls.append(name or kind)
        return data
    return Attachment(kind=kind, file_name=name, size=len(data), fetch=fetch)


async def test_a_qr_photo_is_read_confirmed_and_checked(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    payload = f"01,10,{code},12345678,1000.00,{issued:%Y%m%d},12345678901234567890,AB12"
    text = await chat.send_attachment_data(attachment(qr_png(payload)))
    assert "读到了" in text and f"<code>{code}</code>" in text and "<code>567890</code>" in text
    assert chat.buttons == ["yes", "no", "menu"]
    assert "找到了，信息一致" in await chat.press("yes")


async def test_no_means_type_it(chat: Chat, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    await chat.send_attachment_data(attachment(qr_png(f"01,10,{code12(issued)},12345678,1,{issued:%Y%m%d},1,X")))
    assert "请发送<b>发票号码</b>" in await chat.press("no")


async def test_a_pdf_text_layer_missing_fields_are_asked(chat: Chat, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    data = text_pdf(["增值税电子普通发票", f"发票代码: {code12(issued)}", "发票号码: 12345678"])
    text = await chat.send_attachment_data(attachment(data, kind="document", name="invoice.pdf"))
    assert "读到了" in text
    assert "请发送<b>开票日期</b>" in await chat.press("yes")


@pytest.mark.parametrize(("data", "kind", "name", "words"), [
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "photo", "", "无法打开"),
    (b"", "document", "empty.pdf", "无法打开"),
    (b"hello", "document", "notes.txt", "暂不支持"),
    (b"<root/>", "document", "x.xml", "没有找到发票信息"),
])
async def test_unreadable_files_get_a_clear_answer(chat: Chat, sessions, merchant, data, kind, name, words) -> None:
    await chat.command("start")
    text = await chat.send_attachment_data(attachment(data, kind=kind, name=name))
    assert words in text and "请选择" in text
    async with sessions() as session:
        row, _ = await UnitOfWork(session).conversations.get(1000, 1000, initial="menu", now=chat.assistant.clock())
    assert row.state == "menu"


async def test_a_photo_without_qr_gets_advice(chat: Chat, merchant) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buffer, format="PNG")
    text = await chat.send_attachment_data(attachment(buffer.getvalue()))
    assert "靠近一些" in text and "光线" in text


async def test_too_large_files_are_not_even_downloaded(chat: Chat, merchant) -> None:
    calls: list = []
    big = Attachment(kind="document", file_name="huge.pdf", size=25 * 1024 * 1024,
                     fetch=attachment(b"", calls=calls).fetch)
    assert "20 MB" in await chat.send_attachment_data(big)
    assert calls == []


async def test_during_a_ticket_files_are_relayed_not_read(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    await chat.send(ButtonPress, choice="human", version=chat.history[-1].version)
    calls: list = []
    outputs = await chat.send(FileSent, attachment=attachment(qr_png("01,10,x"), calls=calls), message_id=77)
    assert [type(o) for o in outputs] == [Copy] and calls == []


async def test_an_invoice_past_the_window_shows_its_date_and_says_why(chat: Chat, clock, merchant) -> None:
    issued = clock.today.replace(year=clock.today.year - 7)
    code = code12(issued)
    await chat.command("start")
    text = await chat.send_attachment_data(attachment(qr_png(
        f"01,10,{code},12345678,100.00,{issued:%Y%m%d},12345678901234567890,AB12")))
    assert f"<code>{issued.isoformat()}</code>" in text and "超过 5 年" in text and "超出了查验平台可查验的范围" in text
    assert "点“是的”继续排查" not in text
    assert chat.buttons == ["no", "human", "menu"]
    assert "请发送<b>发票号码</b>" in await chat.press("no")


async def test_a_file_that_waits_for_a_reader_is_announced_to_its_merchant(assistant, sessions, clock) -> None:
    from tests.unit.test_reader_shares import Held
    from assistant.runtime.file_reader import ReadLimits

    for user_id in (1000, 1001):
        await add_user(sessions, clock.now, user_id=user_id)
    reader = Held(ReadLimits(workers=1))
    assistant.reader = reader
    told: list = []

    async def deliver(outputs: list) -> None:
        told.extend(outputs)
    assistant.deliver = deliver
    first, second = Chat(assistant, 1000, 1000), Chat(assistant, 1001, 1001, language="en")
    await second.command("lang")  # the second merchant reads English
    reading = asyncio.create_task(first.send_attachment_data(attachment(b"%PDF-1", "document", "a.pdf")))
    while not reader.started:
        await asyncio.sleep(0.01)
    waiting = asyncio.create_task(second.send_attachment_data(attachment(b"%PDF-2", "document", "b.pdf")))
    while not told:
        await asyncio.sleep(0.01)
    [notice] = told
    assert notice.chat_id == 1001 and "1 ahead of yours" in notice.text and notice.outbox_id is not None
    reader.done("a.pdf")
    while len(reader.started) < 2:
        await asyncio.sleep(0.01)
    reader.done("b.pdf")
    assert "没能" in await reading or "无法" in await reading
    assert "could not" in (await waiting).lower()
