"""End to end: maintenance announced by an admin in Telegram, and promises delivered by the scheduler."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest

from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.factories import add_invoices, add_user, code12, invoice

pytestmark = pytest.mark.e2e


async def test_maintenance_notify_end_and_rerun(api: FakeBotAPI, running, sessions, clock) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await add_user(sessions, clock.now, user_id=1001)
    admin = Merchant(api, 999, name="管理员")  # an admin from ADMIN_IDS
    merchant = Merchant(api, 1001)
    await admin.say("/maintenance")
    await admin.press("now")
    await admin.say("+2h")
    await admin.say("金税系统升级")
    await admin.press("skip")
    assert "已发布" in await admin.press("confirm")
    text = await merchant.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    assert "系统正在维护" in text and "金税系统升级" in text
    assert "维护结束后" in await merchant.press("notify")
    await admin.send("/maintenance_end")
    await api.wait_for(lambda: any("已结束 1 个" in m["text"] for m in admin.inbox))
    await api.wait_for(lambda: any("找到了，信息一致" in m["text"] for m in merchant.inbox))
    await asyncio.sleep(0.6)  # several scheduler rounds: still exactly one notice
    texts = [m["text"] for m in merchant.inbox]
    assert len([t for t in texts if "系统维护已经结束" in t]) == 1


async def test_check_later_is_delivered_after_the_clock_moves(api: FakeBotAPI, running, sessions, clock) -> None:
    await add_user(sessions, clock.now, user_id=1001)
    merchant = Merchant(api, 1001)
    text = await merchant.say(f"代码 {code12(clock.today)} 号码 55667788 日期 {clock.today} 校验码 567890")
    assert "最少需要一天" in text
    await merchant.press("later")
    issued = clock.today
    await add_invoices(sessions, clock.now, invoice(code12(issued), "55667788", issued))  # it arrives meanwhile
    clock.advance(days=2)
    await api.wait_for(lambda: any("按约定" in m["text"] for m in merchant.inbox))
    await api.wait_for(lambda: any("找到了，信息一致" in m["text"] for m in merchant.inbox))


async def test_admins_get_their_commands(api: FakeBotAPI, running) -> None:
    scoped = [c.params for c in api.calls_of("setMyCommands") if c.params.get("scope")]
    assert scoped and scoped[0]["scope"] == {"type": "chat", "chat_id": 999}
    from assistant.routing import ADMIN_COMMANDS

    assert [c["command"] for c in scoped[0]["commands"]][-len(ADMIN_COMMANDS):] == list(ADMIN_COMMANDS)
    assert "announce" in ADMIN_COMMANDS and "stats" in ADMIN_COMMANDS


async def test_stats_come_with_a_chart_of_the_ratings(api: FakeBotAPI, running, sessions, clock) -> None:
    """Through Telegram: /stats' figures, then the ratings drawn as a picture (PNG) with its caption."""
    from PIL import Image

    from assistant import charts
    from assistant.store.uow import UnitOfWork

    async with sessions() as session, session.begin():
        store = UnitOfWork(session)
        for rating in (5, 5, 4, 1):
            ticket = await store.tickets.add(user_id=1001, chat_id=1001, reason="human", language="zh", fields={},
                                             checks=[], now=clock.now - timedelta(hours=2))
            ticket.state, ticket.rating, ticket.closed_at = "closed", rating, clock.now - timedelta(hours=1)
    admin = Merchant(api, 999, name="管理员")
    await admin.send("/stats")
    await api.wait_for(lambda: any("photo" in m for m in admin.inbox))
    assert any("满意度 3.75 分（4 个评价：5 星 2、4 星 1、1 星 1）" in (m.get("text") or "") for m in admin.inbox)
    [photo] = [m for m in admin.inbox if "photo" in m]
    assert photo["caption"].startswith("<b>满意度分布</b>：今天、最近 7 天和最近 30 天收到的评价")
    [call] = api.calls_of("sendPhoto")
    assert call.params["parse_mode"] == "HTML"
    with Image.open(io.BytesIO(call.params["photo"])) as picture:
        assert picture.format == "PNG" and picture.width == charts.WIDTH
