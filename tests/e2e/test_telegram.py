"""End to end over HTTP: the real python-telegram-bot stack against the fake Bot API server."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from assistant.store.uow import UnitOfWork
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant, buttons_of
from tests.factories import STRANGER, add_invoices, add_user, code12, invoice

pytestmark = pytest.mark.e2e


@pytest.fixture
async def invoices(sessions, clock):
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued),
                       invoice(code, "44556677", issued, buyer=STRANGER))
    for user_id in (1001, 1002):
        await add_user(sessions, clock.now, user_id=user_id)
    return {"code": code, "date": issued.isoformat()}


async def test_start_sets_up_the_profile_and_greets(api: FakeBotAPI, running) -> None:
    assert set(api.profile["commands"]) == {"zh", "en", ""}
    assert [c["command"] for c in api.profile["commands"]["zh"]["commands"]] == ["start", "cancel", "help",
                                                                                   "lang", "status", "tickets"]
    assert "返回主菜单" in str(api.profile["commands"]["zh"]) and "Back to the menu" in str(api.profile["commands"]["en"])
    assert "发票" in api.profile["description"]["zh"]["description"]
    assert "Invoice not found" in api.profile["short_description"]["en"]["short_description"]
    merchant = Merchant(api, 1001)
    text = await merchant.say("/start")
    assert "发票查询助手" in text and "请选择您需要的服务" in text
    assert all(m["parse_mode"] == "HTML" for m in merchant.inbox)
    assert merchant.choices == ["find", "status", "human", "help", "lang"]
    assert all(len(data.encode()) <= 64 for _, data in buttons_of(merchant.last_keyboard()))


async def test_full_conversation_to_found(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    menu = merchant.last_keyboard()
    text = await merchant.press("find")
    assert "请发送<b>发票号码</b>" in text
    assert api.calls_of("answerCallbackQuery"), "the press was answered"
    assert not api.calls_of("editMessageReplyMarkup"), "no call spent on taking the old keyboard away"
    assert "已过期" in await merchant.press_again(menu, "find"), "the outdated keyboard is recognised"
    await merchant.say(f"代码 {invoices['code']} 号码 12345678")
    await merchant.say(invoices["date"])
    text = await merchant.say("567890")
    assert "找到了，信息一致" in text and "¥1,130.00" in text


async def test_outcomes_not_found_and_no_permission(api: FakeBotAPI, running, invoices, sessions) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    text = await merchant.say(f"代码 {invoices['code']} 号码 44556677 日期 {invoices['date']} 校验码 567890")
    assert "没有查看权限" in text
    assert "已提交查看权限申请" in await merchant.press("access")
    text = await merchant.say(f"代码 {invoices['code']} 号码 77889900 日期 {invoices['date']} 校验码 567890")
    assert "工单 <b>#" in text
    async with sessions() as session:
        assert len(await UnitOfWork(session).tickets.all()) == 1


async def test_cancel_halfway(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    await merchant.press("find")
    await merchant.say("号码 12345678")
    assert "请选择您需要的服务" in await merchant.say("/cancel")


async def test_outdated_button(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    old_menu = dict(merchant.last_keyboard())
    await merchant.press("find")
    before = len(merchant.inbox)
    await merchant.press_on(old_menu, "status")  # an old message still showing its keyboard elsewhere
    await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox[before:]))
    text = "\n".join(m["text"] for m in merchant.inbox[before:])
    assert "菜单已过期" in text and "请发送<b>发票号码</b>" in text
    assert "系统运行正常" not in text


async def test_bot_restarted_mid_conversation(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    await merchant.press("find")
    await merchant.say(f"代码 {invoices['code']} 号码 12345678")
    await running.restart()
    text = await merchant.say(invoices["date"])
    assert "校验码后 6 位" in text
    assert "找到了" in await merchant.say("567890")
    starts = [m for m in merchant.inbox if "发票查询助手" in m["text"]]
    assert len(starts) == 1, "no update was handled twice after the restart"


async def test_two_chats_interleaved(api: FakeBotAPI, running, invoices) -> None:
    one, two = Merchant(api, 1001), Merchant(api, 1003, language="en")  # 1003 is new: Telegram language
    await asyncio.gather(one.say("/start"), two.say("/start"))
    for text in ("号码 12345678", f"代码 {invoices['code']}", invoices["date"]):
        await one.send(text)
        await two.send(text)
    await api.wait_for(lambda: "校验码后 6 位" in one.inbox[-1]["text"] and "check code" in two.inbox[-1]["text"])
    one_texts = [m["text"] for m in one.inbox]
    assert any("已收到：发票号码 <code>12345678</code>" in t for t in one_texts)
    assert all("Received" not in t for t in one_texts)
    assert any("Received so far: invoice number <code>12345678</code>" in m["text"] for m in two.inbox)
    assert "找到了" in await one.say("567890")


async def test_updates_of_one_chat_are_handled_in_order(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    await merchant.press("find")
    for text in ("号码 12345678", f"代码 {invoices['code']}", invoices["date"], "567890"):
        await merchant.send(text)  # all at once, no waiting
    await api.wait_for(lambda: "找到了" in merchant.inbox[-1]["text"])
    asks = [m["text"] for m in merchant.inbox if "请发送" in m["text"]]
    assert ["发票代码" in asks[-3], "开票日期" in asks[-2], "校验码" in asks[-1]] == [True, True, True]


async def test_429_during_a_reply_is_retried(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    api.fail("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=1001)
    text = await merchant.say("/start")
    assert "请选择您需要的服务" in text
    statuses = [c.status for c in api.calls_of("sendMessage") if c.params["chat_id"] == "1001"]
    assert statuses[0] == 429 and statuses.count(200) == 2


async def test_500_during_a_reply_is_retried(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    api.fail("sendMessage", 500, "Internal Server Error", chat_id=1001, times=2)
    assert "请选择您需要的服务" in await merchant.say("/start")
    assert [c.status for c in api.calls_of("sendMessage") if c.params["chat_id"] == "1001"][:2] == [500, 500]


async def test_blocked_user_is_marked_unreachable(api: FakeBotAPI, running, invoices, sessions) -> None:
    blocked, other = Merchant(api, 1001), Merchant(api, 1002)
    api.blocked.add(1001)
    await blocked.send("/start")
    await api.wait_for(lambda: any(c.status == 403 for c in api.calls_of("sendMessage")))
    assert "请选择" in await other.say("/start")  # nothing else broke
    async with sessions() as session:
        assert (await UnitOfWork(session).users.get(1001)).unreachable is True
    api.blocked.clear()
    assert "请选择" in await blocked.say("/start")
    async with sessions() as session:
        assert (await UnitOfWork(session).users.get(1001)).unreachable is False


async def test_groups_stay_silent_except_start(api: FakeBotAPI, running) -> None:
    group = Merchant(api, 1001, chat_type="group", chat_id=-100)
    await group.send("号码 12345678")
    await group.send("/start@invoice_helper_bot")
    await api.wait_for(lambda: len(group.inbox) >= 1)
    await asyncio.sleep(0.5)
    assert len(group.inbox) == 1
    assert "私聊" in group.inbox[0]["text"] and "@invoice_helper_bot" in group.inbox[0]["text"]


async def test_stickers_voice_and_locations_get_a_helpful_reply(api: FakeBotAPI, running) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    sticker = {"file_id": "s1", "file_unique_id": "u1", "type": "regular", "width": 512, "height": 512,
               "is_animated": False, "is_video": False}
    for kind, payload, word in (("sticker", sticker, "贴纸"),
                                ("voice", {"file_id": "v1", "file_unique_id": "u2", "duration": 3}, "语音"),
                                ("location", {"latitude": 39.9, "longitude": 116.4}, "位置")):
        before = len(merchant.inbox)
        await merchant.send_kind(kind, payload)
        await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox[before:]))
        assert word in "\n".join(m["text"] for m in merchant.inbox[before:])


async def test_admins_from_settings_exist_after_start(api: FakeBotAPI, running, sessions) -> None:
    async with sessions() as session:
        assert (await UnitOfWork(session).users.get(999)).role == "admin"
    await api.wait_for(lambda: bool(api.messages[999]))
    assert "SUPPORT_CHAT_ID" in api.messages[999][0]["text"]  # warned: no support group configured


async def test_telegram_error_during_a_reply_reaches_the_error_handler(api: FakeBotAPI, running, invoices) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    await merchant.press("find")
    api.fail("sendMessage", 400, "Bad Request: can't parse entities", chat_id=1001)
    await merchant.send("号码 12345678")
    await api.wait_for(lambda: any("出了点问题" in m["text"] for m in merchant.inbox))
    assert "请发送<b>发票代码</b>" in await merchant.say("你好")  # the place was kept
