"""End to end: texts over Telegram's limits reach people whole; what users send is cleaned at the edge.

The fake Bot API refuses what Telegram refuses (4,096 characters a message, 1,024 a caption), with
Telegram's error texts.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.fake_bot_api import FakeBotAPI, Merchant, _visible, buttons_of
from tests.e2e.test_handoff import SUPPORT, desk, not_found, staff_in, ticket_of  # noqa: F401 - desk is a fixture

pytestmark = pytest.mark.e2e


@pytest.mark.usefixtures("desk")
async def test_a_close_reason_longer_than_a_message_reaches_the_merchant_whole(api: FakeBotAPI, clock) -> None:
    merchant = Merchant(api, 1001)
    topic, card = await not_found(api, merchant, clock)
    ticket = ticket_of(card)
    reason = "".join(f"第{i}条：开票方已在电子税务局补传，请次日再查验。" for i in range(200))  # ≈ 5,000 characters
    assert len(reason) > 4096
    before = len(merchant.inbox)
    await staff_in(api, topic).send(f"/close {reason}")
    await api.wait_for(lambda: any(f"rate.{ticket}.5" in data for m in merchant.inbox[before:]
                                   for _, data in buttons_of(m)))
    received = merchant.inbox[before:]
    assert not [call for call in api.calls if call.status == 400 and "too long" in str(call.params)]
    telling = [m for m in received if "第" in m["text"]]
    assert len(telling) >= 2  # split into messages Telegram accepts
    assert all(len(m["text"]) <= 4096 for m in telling)
    joined = re.sub(r"\s+", "", "".join(m["text"] for m in telling))
    assert re.sub(r"\s+", "", reason) in joined  # nothing of it lost
    assert buttons_of(telling[-1]) and not any(buttons_of(m) for m in telling[:-1])  # the rating under the last
    await merchant.press_on(telling[-1], f"rate.{ticket}.5")
    await api.wait_for(lambda: any("5 星" in m["text"] for m in merchant.inbox))


@pytest.mark.usefixtures("desk")
async def test_a_name_with_nul_and_broken_characters_is_served(api: FakeBotAPI, sessions) -> None:
    from assistant.store.uow import UnitOfWork

    merchant = Merchant(api, 1003, name="王\x00经理\ud83d")
    assert "请选择您需要的服务" in await merchant.say("/start")
    assert "请选择您需要的服务" in await merchant.say("/start")  # and every later message too
    async with sessions() as session:
        user = await UnitOfWork(session).users.get(1003)
    assert user is not None and "\x00" not in user.name and user.name.startswith("王经理")


@pytest.mark.usefixtures("desk")
async def test_a_topic_named_after_an_emoji_name_fits_telegrams_128(api: FakeBotAPI) -> None:
    merchant = Merchant(api, 1004, name="😀" * 100)  # 100 characters, 200 of Telegram's units
    assert "工单 <b>#" in await merchant.say("/human")
    await api.wait_for(lambda: bool(api.topics))
    [topic] = api.topics.values()
    assert topic["name"].startswith("#") and "😀" in topic["name"] and topic["name"].endswith("…")
    assert len(topic["name"].encode("utf-16-le")) // 2 <= 128
    assert not [call for call in api.calls if call.status == 400]


async def test_an_announcement_is_measured_in_telegrams_units(api: FakeBotAPI, running, sessions) -> None:
    """3,000 emoji are 6,000 of Telegram's units: refused at the draft, not "started" and then sent to nobody."""
    merchants = [Merchant(api, 2100 + n) for n in range(10)]
    for merchant in merchants:
        await merchant.say("/start")
    admin = Merchant(api, 999, name="管理员")
    await admin.say("/announce")
    await admin.press("recent")
    refused = await admin.say("😀" * 3000)
    assert "最多 3000 字（现在 6000 字" in refused and "已开始" not in refused
    preview = await admin.say("📢" * 1500)  # 3,000 units: the most an announcement may have
    assert "将发给 10 位" in preview
    assert "已开始" in await admin.press("confirm")
    await api.wait_for(lambda: any("完成" in m["text"] for m in admin.inbox), timeout=30)
    for merchant in merchants:
        assert [m["text"] for m in merchant.inbox if m["text"].startswith("📢 ")] == ["📢 " + "📢" * 1500]
    assert "送达 10" in next(m["text"] for m in admin.inbox if "完成" in m["text"])


async def test_an_announcement_longer_than_a_message_goes_as_several(api: FakeBotAPI) -> None:
    from telegram import Bot

    from assistant.adapters.telegram import TelegramBroadcast

    text = "\n".join(f"第{i}行 😀 <b>通知</b>" for i in range(600))  # about 7,000 units as the reader sees it
    async with Bot(api.token, base_url=api.base_url) as bot:
        delivery = await TelegramBroadcast(bot).deliver(2001, text)
    assert delivery.outcome == "sent"
    parts = [m["text"] for m in api.messages[2001]]
    assert len(parts) == 2 and all(_visible(part, "HTML") <= 4096 for part in parts)
    assert re.sub(r"<[^>]*>|\s", "", "".join(parts)) == re.sub(r"<[^>]*>|\s", "", text)


@pytest.mark.usefixtures("desk")
async def test_a_right_to_left_override_in_a_name_is_removed_on_arrival(api: FakeBotAPI, sessions) -> None:
    from assistant.store.uow import UnitOfWork

    merchant = Merchant(api, 1005, name="王经理 \u202e0987")
    assert "工单 <b>#" in await merchant.say("/human")
    await api.wait_for(lambda: bool(api.topics) and any(m.get("reply_markup") for m in api.messages[SUPPORT]))
    [topic] = api.topics.values()
    card = next(m for m in api.messages[SUPPORT] if m.get("reply_markup"))
    assert topic["name"].endswith("王经理 0987") and "王经理 0987" in card["text"]
    assert "\u202e" not in topic["name"] + card["text"]
    async with sessions() as session:
        user = await UnitOfWork(session).users.get(1005)
    assert user is not None and user.name == "王经理 0987"
