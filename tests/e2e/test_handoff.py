"""End to end: a ticket's whole life between a merchant's chat and a topic of the support group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from assistant.settings import Settings
from assistant.store.uow import UnitOfWork
from tests.e2e.conftest import RunningBot
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant, buttons_of
from tests.factories import add_user, code12

pytestmark = pytest.mark.e2e
SUPPORT = -1009876543210
STAFF = 500


@pytest.fixture
async def desk(bot_settings: Settings, clock, sessions) -> AsyncIterator[RunningBot]:
    await add_user(sessions, clock.now, user_id=1001)
    async with sessions() as session, session.begin():
        await UnitOfWork(session).users.save(STAFF, role="staff", language="zh", companies=[], now=clock.now,
                                       name="李娜", alias="客服小李")
    settings = bot_settings.model_copy(update={"support_chat_id": SUPPORT, "scheduler_interval_seconds": 0.2})
    bot = RunningBot(settings, clock)
    await bot.start()
    yield bot
    await bot.stop()


def ticket_of(card: dict) -> int:
    """The ticket id the card's buttons carry ("0:claim.12")."""
    return int(buttons_of(card)[0][1].split(".")[1])


async def withdraw(merchant: Merchant) -> None:
    """/cancel asks first; the merchant confirms with the button."""
    assert "要撤回工单" in await merchant.say("/cancel")
    assert "已撤回" in await merchant.press(next(c for c in merchant.choices if c.startswith("withdraw.")))


def staff_in(api: FakeBotAPI, topic: int | None, user_id: int = STAFF, name: str = "李娜") -> Merchant:
    return Merchant(api, user_id, name=name, chat_type="supergroup", chat_id=SUPPORT, thread=topic)


async def not_found(api: FakeBotAPI, merchant: Merchant, clock) -> tuple[int, dict]:
    """A lookup that finds nothing: the ticket's topic and its card."""
    issued = clock.today - timedelta(days=30)
    text = await merchant.say(f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
    assert "工单 <b>#" in text and "您前面还有 0 位" in text
    await api.wait_for(lambda: bool(api.topics) and any(m.get("reply_markup") for m in api.messages[SUPPORT]))
    [(topic, info)] = api.topics.items()
    assert "77889900" in info["name"] and "王经理" in info["name"]
    card = next(m for m in api.in_topic(SUPPORT, topic) if m.get("reply_markup"))
    return topic, card


async def test_a_tickets_whole_life(api: FakeBotAPI, desk, clock, sessions) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    topic, card = await not_found(api, merchant, clock)
    assert "查无此票" in card["text"] and "<code>77889900</code>" in card["text"] and "发票查询：未找到" in card["text"]
    ticket = ticket_of(card)
    assert [d.split(":", 1)[1] for _, d in buttons_of(card)] == [f"claim.{ticket}", f"close.{ticket}"]
    staff = staff_in(api, topic)
    # claim with the card's button: the card shows the assignee, the merchant learns the alias
    before = len(merchant.inbox)
    await staff.press_on(card, f"claim.{ticket}")
    await api.wait_for(lambda: any("客服小李正在处理" in m["text"] for m in merchant.inbox[before:]))
    await api.wait_for(lambda: "李娜" in card["text"])  # the support group's own queue: in its turn
    assert [d for _, d in buttons_of(card)] == [f"0:close.{ticket}"]
    # the merchant writes, sends a photo with a caption, and an album: all copied into the topic
    await merchant.send("我昨天就开了这张发票")
    photo = await merchant.photo(caption="这是发票照片")
    for _ in range(3):
        await merchant.photo(media_group_id="album-1", caption="三张" if _ == 0 else None)
    await api.wait_for(lambda: len([m for m in api.in_topic(SUPPORT, topic) if m.get("copied_from")]) >= 5)
    copies = [m for m in api.in_topic(SUPPORT, topic) if m.get("copied_from")]
    assert copies[0]["text"] == "我昨天就开了这张发票"
    assert copies[1]["caption"] == "这是发票照片" and copies[1]["copied_from"] == (1001, photo["message_id"])
    assert len(api.calls_of("copyMessages")) == 1 and len(api.calls_of("copyMessages")[0].params["message_ids"]) == 3
    assert copies[2]["caption"] == "三张"
    # the assistant said nothing meanwhile
    assert not [m for m in merchant.inbox[before:] if "客服小李" not in m["text"]]
    # staff answer, replying to the merchant's first message: the merchant's copy replies to the original
    before = len(merchant.inbox)
    await staff.reply(copies[0], "收到，我们马上核实")
    await api.wait_for(lambda: len(merchant.inbox) > before)
    answer = merchant.inbox[-1]
    first_id = copies[0]["copied_from"][1]
    assert answer["text"] == "收到，我们马上核实" and answer["reply_to"] == first_id
    # internal notes are not relayed
    await staff.send("// 开票方是老客户")
    await staff.send("/note 明天再跟进")
    # the merchant edits their text and a caption: carried over to the copies, formatting kept
    bold = [{"type": "bold", "offset": 1, "length": 2}]
    await merchant.edit(first_id, "我前天就开了这张发票", entities=bold)
    await api.wait_for(lambda: copies[0]["text"] == "我前天就开了这张发票")
    assert copies[0]["entities"] == bold
    await merchant.edit_caption(photo, "这是发票照片（正面）", entities=[{"type": "italic", "offset": 0, "length": 2}])
    await api.wait_for(lambda: copies[1]["caption"] == "这是发票照片（正面）")
    assert copies[1]["caption_entities"] == [{"type": "italic", "offset": 0, "length": 2}]
    assert len(merchant.inbox) == before + 1
    # close with a reason: told, asked to rate, back to the menu
    await staff.send("/close 开票方已补传")
    await api.wait_for(lambda: any("请选择您需要的服务" in m["text"] for m in merchant.inbox[before + 1:]))
    closed = next(m for m in merchant.inbox if "已关闭" in m["text"])
    assert "开票方已补传" in closed["text"]
    await api.wait_for(lambda: api.topics[topic]["closed"])
    assert api.topics[topic]["name"].startswith("✅")
    await merchant.press_on(closed, f"rate.{ticket}.4")
    await api.wait_for(lambda: any("4 星" in m["text"] for m in merchant.inbox))
    await api.wait_for(lambda: any("4 星" in m.get("text", "") for m in api.in_topic(SUPPORT, topic)))
    assert "请选择您需要的服务" in await merchant.say("/start")  # the assistant is back
    async with sessions() as session:
        [stored] = await UnitOfWork(session).tickets.all()
        events = [e.event for e in await UnitOfWork(session).tickets.events(stored.id)]
    assert (stored.id, stored.state, stored.rating, stored.assignee_id) == (ticket, "closed", 4, STAFF)
    assert events == ["open", "topic", "claim", "close", "rate"]
    relayed_to_merchant = [m for m in merchant.inbox if m.get("copied_from")]
    assert [m["text"] for m in relayed_to_merchant] == ["收到，我们马上核实"]  # notes never reached the merchant


async def test_a_merchants_claim_attempt_is_refused(api: FakeBotAPI, desk, clock, sessions) -> None:
    merchant = Merchant(api, 1001)
    topic, card = await not_found(api, merchant, clock)
    intruder = staff_in(api, topic, user_id=1001, name="王经理")
    await intruder.press_on(card, f"claim.{ticket_of(card)}")
    await intruder.send("/claim")
    await api.wait_for(lambda: len([m for m in api.in_topic(SUPPORT, topic) if "只有客服" in m.get("text", "")]) == 2)
    async with sessions() as session:
        assert (await UnitOfWork(session).tickets.all())[0].state == "open"


async def test_the_bot_restarted_mid_ticket_keeps_relaying(api: FakeBotAPI, desk, clock) -> None:
    merchant = Merchant(api, 1001)
    topic, _ = await not_found(api, merchant, clock)
    await desk.restart()
    await merchant.send("重启后还在吗")
    await api.wait_for(lambda: any(m.get("text") == "重启后还在吗" for m in api.in_topic(SUPPORT, topic)))
    before = len(merchant.inbox)
    await staff_in(api, topic).send("在的")
    await api.wait_for(lambda: len(merchant.inbox) > before)
    assert merchant.inbox[-1]["text"] == "在的"


async def test_a_deleted_topic_is_recovered_without_losing_the_message(api: FakeBotAPI, desk, clock,
                                                                         sessions) -> None:
    merchant = Merchant(api, 1001)
    topic, _ = await not_found(api, merchant, clock)
    api.deleted_topics.add(topic)
    await merchant.send("话题被删了吗")
    await api.wait_for(lambda: len(api.topics) == 2)
    new_topic = max(api.topics)
    await api.wait_for(lambda: any(m.get("text") == "话题被删了吗" for m in api.in_topic(SUPPORT, new_topic)))
    assert any(m.get("reply_markup") for m in api.in_topic(SUPPORT, new_topic))  # a fresh card
    for _ in range(100):  # recorded once the new topic, its card and the copy are all through
        async with sessions() as session:
            [ticket] = await UnitOfWork(session).tickets.all()
        if ticket.topic_id == new_topic:
            break
        await asyncio.sleep(0.05)
    assert ticket.topic_id == new_topic


async def test_a_topic_closed_by_hand_closes_the_ticket(api: FakeBotAPI, desk, clock, sessions) -> None:
    merchant = Merchant(api, 1001)
    topic, _ = await not_found(api, merchant, clock)
    await staff_in(api, topic).service("forum_topic_closed")
    await api.wait_for(lambda: any("已关闭" in m["text"] for m in merchant.inbox))
    async with sessions() as session:
        assert (await UnitOfWork(session).tickets.all())[0].state == "closed"


async def test_a_blocked_merchant_is_noted_in_the_topic(api: FakeBotAPI, desk, clock) -> None:
    merchant = Merchant(api, 1001)
    topic, _ = await not_found(api, merchant, clock)
    api.blocked.add(1001)
    await staff_in(api, topic).send("您好？")
    await api.wait_for(lambda: any("屏蔽" in m.get("text", "") for m in api.in_topic(SUPPORT, topic)))


async def test_unclaimed_tickets_are_announced_in_the_general_topic(api: FakeBotAPI, desk, clock) -> None:
    merchant = Merchant(api, 1001)
    await not_found(api, merchant, clock)
    clock.advance(minutes=16)
    await api.wait_for(lambda: any("仍无人认领" in m.get("text", "") and "message_thread_id" not in m
                                   for m in api.messages[SUPPORT]))
    await asyncio.sleep(0.5)
    assert len([m for m in api.messages[SUPPORT] if "仍无人认领" in m.get("text", "")]) == 1


async def test_without_the_right_to_make_topics_tickets_wait_and_nobody_is_misled(api: FakeBotAPI, bot_settings,
                                                                                 clock, sessions) -> None:
    api.can_manage_topics = False
    await add_user(sessions, clock.now, user_id=1001)
    async with sessions() as session, session.begin():
        await UnitOfWork(session).users.save(999, role="admin", language="zh", companies=[], now=clock.now)
    bot = RunningBot(bot_settings.model_copy(update={"support_chat_id": SUPPORT}), clock)
    await bot.start()
    try:
        admin = Merchant(api, 999)
        await api.wait_for(lambda: any("管理话题" in m["text"] for m in admin.inbox))  # told at start
        merchant = Merchant(api, 1001)
        issued = clock.today - timedelta(days=30)
        await merchant.say(f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
        await api.wait_for(lambda: any("暂时无法接收新工单" in m["text"] for m in merchant.inbox))
        await merchant.send("发票是上周开的")  # held for the topic the ticket will get
        await asyncio.sleep(1)
        assert api.topics == {} and api.messages[SUPPORT] == []
        assert len([m for m in merchant.inbox if "暂时无法接收新工单" in m["text"]]) == 1  # told once
        refused = len(api.calls_of("createForumTopic"))
        await asyncio.sleep(1)
        assert len(api.calls_of("createForumTopic")) == refused  # no request per tick while refused
        api.can_manage_topics = True  # an admin fixed the group
        clock.advance(minutes=2)
        await api.wait_for(lambda: bool(api.topics))
        [topic] = api.topics
        await api.wait_for(lambda: any(m.get("copied_from") for m in api.in_topic(SUPPORT, topic)))
        in_topic = api.in_topic(SUPPORT, topic)
        assert any(m.get("reply_markup") and "77889900" in m["text"] for m in in_topic)  # the card
        assert [m["text"] for m in in_topic if m.get("copied_from")] == ["发票是上周开的"]  # nothing lost
    finally:
        await bot.stop()


async def test_asking_and_withdrawing_by_turns_opens_one_topic(api: FakeBotAPI, desk, clock, sessions) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    for _ in range(3):  # within Telegram's 20 requests a minute to one group
        assert "工单 <b>#" in await merchant.say("/human")
        await withdraw(merchant)
    await api.wait_for(lambda: len(api.calls_of("reopenForumTopic")) == 2)
    assert len(api.calls_of("createForumTopic")) == 1 and len(api.topics) == 1
    async with sessions() as session:
        assert len(await UnitOfWork(session).tickets.all()) == 1


async def test_a_forged_button_in_the_group_changes_nothing(api: FakeBotAPI, desk, clock, sessions) -> None:
    merchant = Merchant(api, 1001)
    topic, card = await not_found(api, merchant, clock)
    ticket = ticket_of(card)
    stranger = staff_in(api, 5, user_id=777, name="路人")
    decoy = {"message_id": 4321, "date": 0, "chat": {"id": SUPPORT, "type": "supergroup", "title": "客服群"},
             "message_thread_id": 5, "is_topic_message": True, "text": "随便一条消息"}
    before = len(api.messages[SUPPORT])
    await stranger.press_data(decoy, f"0:claim.{ticket}")
    await api.wait_for(lambda: any("只有客服" in m["text"] for m in api.messages[SUPPORT][before:]))
    assert [d.split(":", 1)[1] for _, d in buttons_of(card)] == [f"claim.{ticket}", f"close.{ticket}"]
    async with sessions() as session:
        stored = await UnitOfWork(session).tickets.get(ticket)
    assert stored is not None and (stored.state, stored.card_message_id) == ("open", card["message_id"])


async def test_a_card_that_fails_is_posted_into_the_same_topic(api: FakeBotAPI, desk, clock) -> None:
    api.fail("sendMessage", 500, "Internal Server Error", chat_id=SUPPORT, times=4)  # every try of the first send
    merchant = Merchant(api, 1001)
    issued = clock.today - timedelta(days=30)
    await merchant.say(f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
    await api.wait_for(lambda: any(m.get("reply_markup") for m in api.messages[SUPPORT]), timeout=20)
    assert len(api.calls_of("createForumTopic")) == 1 and len(api.topics) == 1  # one topic, not one per try
    [topic] = api.topics
    assert [m for m in api.in_topic(SUPPORT, topic) if m.get("reply_markup")]  # the card, in that topic


async def test_the_daily_cap_over_telegram(api: FakeBotAPI, bot_settings, clock, sessions) -> None:
    await add_user(sessions, clock.now, user_id=1001)
    settings = bot_settings.model_copy(update={"support_chat_id": SUPPORT, "tickets_per_day": 2})
    bot = RunningBot(settings, clock)
    await bot.start()
    try:
        merchant = Merchant(api, 1001)
        assert "工单 <b>#" in await merchant.say("/human")
        await withdraw(merchant)
        assert "工单 <b>#" in await merchant.say("/human")  # taken up again: the second request today
        await withdraw(merchant)
        assert "达到每天的上限" in await merchant.say("/human")
        assert len(api.topics) == 1
    finally:
        await bot.stop()


async def test_the_support_group_gets_the_staff_commands_and_id_answers_the_ids(api: FakeBotAPI, desk) -> None:
    from assistant.routing import STAFF_COMMANDS

    group = [c.params for c in api.calls_of("setMyCommands")
             if (c.params.get("scope") or {}).get("chat_id") == SUPPORT]
    assert {(c.get("language_code") or "") for c in group} == {"zh", "en", ""}
    for call in group:
        assert call["scope"] == {"type": "chat", "chat_id": SUPPORT}
        assert [c["command"] for c in call["commands"]] == list(STAFF_COMMANDS)
    described = {c.get("language_code"): {d["command"]: d["description"] for d in c["commands"]} for c in group}
    assert described["zh"]["claim"] == "认领本话题的工单" and described["en"]["claim"] == "Claim the ticket of this topic"
    assert {"claim", "close", "reopen", "queue", "lookup", "id"} <= set(STAFF_COMMANDS)
    # /id, in the support group (in a topic) and in a private chat: the ids to put in the settings
    await staff_in(api, 42).send("/id")
    await api.wait_for(lambda: any("本群的 ID" in m["text"] for m in api.in_topic(SUPPORT, 42)))
    text = next(m["text"] for m in api.in_topic(SUPPORT, 42) if "本群的 ID" in m["text"])
    assert f"本群的 ID：<code>{SUPPORT}</code>" in text and f"<code>{STAFF}</code>" in text and "<code>42</code>" in text
    english = Merchant(api, 1002, language="en")
    await english.send("/id")
    await api.wait_for(lambda: any("This chat" in m["text"] for m in english.inbox))
    text = next(m["text"] for m in english.inbox if "This chat" in m["text"])
    assert "This chat's id: <code>1002</code>" in text and "Your Telegram user id: <code>1002</code>" in text
    assert "SUPPORT_CHAT_ID" not in text
