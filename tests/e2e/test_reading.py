"""End to end: invoice photos and files sent in Telegram, fetched with getFile and downloaded."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import segno

from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.factories import add_invoices, add_user, code12, invoice
from tests.synthetic import ofd
from tests.unit.test_documents import OFD_FILES

pytestmark = pytest.mark.e2e


async def test_a_qr_photo_and_an_ofd_file(api: FakeBotAPI, running, sessions, clock) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await add_user(sessions, clock.now, user_id=1001)
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    buffer = io.BytesIO()
    segno.make(f"01,10,{code},12345678,1000.00,{issued:%Y%m%d},12345678901234567890,AB12").save(
        buffer, kind="png", scale=6)
    before = len(merchant.inbox)
    await merchant.photo(content=buffer.getvalue())
    await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox[before:]))
    assert "读到了" in merchant.inbox[-1]["text"] and "12345678" in merchant.inbox[-1]["text"]
    assert api.calls_of("getFile") and api.calls_of("download")
    assert "找到了，信息一致" in await merchant.press("yes")
    before = len(merchant.inbox)
    await merchant.document("发票.ofd", ofd(OFD_FILES), mime="application/ofd")
    await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox[before:]))
    assert "<code>80100798</code>" in merchant.inbox[-1]["text"]


async def test_files_over_20_mb_are_refused_without_downloading(api: FakeBotAPI, running) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    before = len(merchant.inbox)
    await merchant.document("huge.pdf", b"%PDF-", mime="application/pdf", size=30 * 1024 * 1024)
    await api.wait_for(lambda: any("20 MB" in m["text"] for m in merchant.inbox[before:]))
    assert not api.calls_of("getFile")
