"""Human-support handoff through the core: tickets, relays, staff commands, faults (transport-free)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.messages import (
    AlbumReceived,
    Attachment,
    ButtonPress,
    Command,
    DeliveryFailed,
    FileSent,
    Inbound,
    OutputDelivered,
    Text,
    TopicClosed,
)
from assistant.outputs import Copy, EditCard, EditCopy, OpenTopic, Reply, TopicState
from assistant.store.models import RelayedMessage
from assistant.store.uow import UnitOfWork
from tests.conftest import SUPPORT_CHAT, Chat, joined, replies_of
from tests.stored import rows
from tests.factories import add_invoices, add_user, code12, invoice

STAFF, OTHER_MERCHANT = 500, 1002


@pytest.fixture
async def people(sessions, clock) -> None:
    await add_user(sessions, clock.now)  # merchant 1000
    await add_user(sessions, clock.now, user_id=OTHER_MERCHANT)
    async with sessions() as session, session.begin():
        await UnitOfWork(session).users.save(STAFF, role="staff", language="zh", companies=[], now=clock.now,
                                       name="李娜", alias="客服小李")


class Staff:
    """Somebody in the support group, writing in a ticket's topic."""

    def __init__(self, assistant, user_id: int = STAFF, name: str = "李娜") -> None:
        self.assistant, self.user_id, self.name = assistant, user_id, name
        self.ids = iter(range(9000, 10**6))

    async def send(self, topic: int | None, kind: type[Inbound], **kwargs) -> list:
        if kind in (Text, FileSent):
            kwargs.setdefault("message_id", next(self.ids))
        return await self.assistant.handle(kind(user_id=self.user_id, chat_id=SUPPORT_CHAT, thread_id=topic,
                                                user_name=self.name, language="zh", **kwargs))

    async def command(self, topic: int | None, name: str, args: str = "") -> list:
        return await self.send(topic, Command, name=name, args=args)


async def open_ticket(chat: Chat, assistant, clock, topic: int = 77, card: int = 700) -> int:
    """A not-found lookup opens a ticket; the transport reports the topic and the card it created."""
    issued = clock.today - timedelta(days=30)
    outputs = await chat.send(Text, text=f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    assert await assistant.take([OutputDelivered(opened, thread_id=topic, message_ids=(card,))]) == []
    return opened.ticket_id


async def withdraw(chat: Chat, ticket_id: int) -> list:
    """/cancel, which asks first, and the confirmation: the outputs of withdrawing."""
    asked = joined(replies_of(await chat.send(Command, name="cancel")))
    assert "要撤回工单" in asked
    return await chat.send(ButtonPress, choice=f"withdraw.{ticket_id}", version=0)


async def events_of(sessions, ticket_id: int) -> list[tuple[str, str, int | None]]:
    async with sessions() as session:
        return [(e.event, e.state, e.actor_id) for e in await UnitOfWork(session).tickets.events(ticket_id)]


async def test_opening_a_ticket_creates_a_topic_with_the_full_card(chat: Chat, assistant, sessions, clock,
                                                                     people) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued, batch="500")
    outputs = await chat.send(Text, text=f"代码 {code} 号码 77889900 日期 {issued} 校验码 123456")
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    assert opened.chat_id == SUPPORT_CHAT
    assert opened.name == f"#{opened.ticket_id} · 77889900 · Test"
    card = opened.card.text
    for expected in (f"工单 #{opened.ticket_id}", "待认领", "Telegram ID <code>1000</code>", "语言 zh", "查无此票",
                     f"<code>{code}</code>", "<code>77889900</code>", "发票查询：未找到", "开票地区：北京",
                     "相近发票：无", "未认领"):
        assert expected in card, expected
    assert opened.card.choices == [f"claim.{opened.ticket_id}", f"close.{opened.ticket_id}"]
    told = joined(replies_of(outputs))
    assert f"#{opened.ticket_id}" in told and "您前面还有 0 位" in told and "现在有人值班" in told


async def test_merchant_names_are_escaped_in_the_card(chat: Chat, assistant, clock, people) -> None:
    chat.name = "<b>Evil</b> & Co"
    await chat.command("start")
    outputs = await chat.send(ButtonPress, choice="human", version=chat.history[-1].version)
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    assert "&lt;b&gt;Evil&lt;/b&gt; &amp; Co" in opened.card.text and "<b>Evil</b>" not in opened.card.text


async def test_bidi_controls_in_a_name_do_not_reach_the_card_or_the_topic_name(chat: Chat, assistant, clock,
                                                                                people) -> None:
    """A name stored with a right-to-left override (from before names were cleaned on arrival): staff read it
    in its order, "王经理 0987", not turned around as "王经理 7890"."""
    chat.name = "王经理 \u202e0987\u200b"
    await chat.command("start")
    outputs = await chat.send(ButtonPress, choice="human", version=chat.history[-1].version)
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    assert opened.name.endswith("王经理 0987") and "王经理 0987" in opened.card.text
    assert not any(char in text for char in "\u202e\u200b" for text in (opened.name, opened.card.text))


async def test_outside_support_hours_says_when_someone_answers(chat: Chat, assistant, clock, people) -> None:
    clock.advance(hours=12)  # 22:00 Beijing time on a Monday
    await chat.command("start")
    text = joined(replies_of(await chat.send(ButtonPress, choice="human", version=chat.history[-1].version)))
    assert "非工作时间" in text and "明天 09:00" in text


async def test_claim_relay_both_ways_notes_close_and_rate(chat: Chat, assistant, sessions, clock, people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    staff = Staff(assistant)
    outputs = await staff.send(77, ButtonPress, choice=f"claim.{ticket_id}", version=0)
    card = next(o for o in outputs if isinstance(o, EditCard))
    assert card.message_id == 700 and "李娜" in card.card.text and "客服小李" in card.card.text
    assert card.card.choices == [f"close.{ticket_id}"]
    told = [o for o in outputs if isinstance(o, Reply) and o.chat_id == 1000]
    assert "客服小李正在处理您的工单" in told[0].text
    # the merchant writes: copied into the topic, and the assistant says nothing
    outputs = await chat.send(Text, text="发票是上周开的", message_id=41)
    assert outputs == [Copy(ticket_id, 1000, (41,), SUPPORT_CHAT, 77, None)]
    await assistant.take([OutputDelivered(outputs[0], message_ids=(9041,))])
    # an album arrives as one message with several message ids
    outputs = await chat.send(AlbumReceived, attachment=Attachment("photo"),
                              message_id=42, album=(42, 43, 44), caption="三张照片")
    assert outputs == [Copy(ticket_id, 1000, (42, 43, 44), SUPPORT_CHAT, 77, None)]
    # staff answer, replying to the merchant's copied message: threaded back to the original
    outputs = await staff.send(77, Text, text="收到，我们核实一下", message_id=9100, reply_to=9041)
    assert outputs == [Copy(ticket_id, SUPPORT_CHAT, (9100,), 1000, None, 41)]
    await assistant.take([OutputDelivered(outputs[0], message_ids=(51,))])
    # internal notes stay in the topic
    assert await staff.send(77, Text, text="// 这个商户上次也是号码输错") == []
    assert await staff.command(77, "note", "内部备注") == []
    # the merchant edits a relayed message; the staff edit theirs
    assert await chat.send(Text, text="发票是上周三开的", message_id=41, edited=True) == [
        EditCopy(SUPPORT_CHAT, 9041, "发票是上周三开的")]
    assert await staff.send(77, Text, text="收到，正在核实", message_id=9100, edited=True) == [EditCopy(1000, 51, "收到，正在核实")]
    # close: the merchant is told, asked for a rating, and back at the menu
    outputs = await staff.command(77, "close", "开票方已补传")
    assert TopicState(SUPPORT_CHAT, 77, f"✅ #{ticket_id} · 77889900 · Test", closed=True) in outputs
    merchant = [o for o in outputs if isinstance(o, Reply) and o.chat_id == 1000]
    assert "已关闭：开票方已补传" in merchant[0].text
    assert merchant[0].choices == [f"rate.{ticket_id}.{n}" for n in range(1, 6)]
    assert "请选择您需要的服务" in merchant[1].text
    assert "请选择" in await chat.command("start")  # the assistant answers again
    outputs = await chat.send(ButtonPress, choice=f"rate.{ticket_id}.5", version=0)
    assert "5 星" in joined(replies_of(outputs))
    assert any(isinstance(o, Reply) and o.thread_id == 77 and "5 星" in o.text for o in outputs)
    assert "已经评价过" in joined(replies_of(await chat.send(ButtonPress, choice=f"rate.{ticket_id}.1", version=0)))
    async with sessions() as session:
        [ticket] = await UnitOfWork(session).tickets.all()
        assert (ticket.state, ticket.rating, ticket.assignee_id, ticket.close_reason) == ("closed", 5, STAFF,
                                                                                          "开票方已补传")
    assert await events_of(sessions, ticket_id) == [("open", "open", 1000), ("topic", "open", None),
                                                    ("claim", "claimed", STAFF), ("close", "closed", STAFF),
                                                    ("rate", "closed", 1000)]


async def test_the_assistant_stays_silent_while_a_person_has_the_ticket(chat: Chat, assistant, clock,
                                                                        people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    for text in ("你好", "代码 011001900111 号码 12345678", "😀"):
        outputs = await chat.send(Text, text=text)
        assert all(isinstance(o, Copy) for o in outputs) and outputs
    text = joined(replies_of(await chat.send(ButtonPress, choice="find", version=chat.history[-1].version)))
    assert f"工单 #{ticket_id} 已在排队" in text and "/cancel" in text  # nobody claimed it yet: not "处理中"
    await Staff(assistant).command(77, "claim")
    text = joined(replies_of(await chat.send(ButtonPress, choice="find", version=chat.history[-1].version)))
    assert f"工单 #{ticket_id} 正由客服处理" in text


async def test_merchants_cannot_act_as_staff(chat: Chat, assistant, sessions, clock, people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    intruder = Staff(assistant, user_id=OTHER_MERCHANT, name="冒充者")
    for outputs in (await intruder.command(77, "claim"), await intruder.send(77, ButtonPress, choice=f"claim.{ticket_id}",
                                                                            version=0),
                    await intruder.command(77, "lookup", "77889900"), await intruder.send(77, Text, text="我来回答")):
        assert [o.text for o in outputs if isinstance(o, Reply)] == ["只有客服和管理员可以在这里处理工单。"]
    async with sessions() as session:
        assert (await UnitOfWork(session).tickets.all())[0].state == "open"
    # nor rate or reopen another merchant's ticket
    other = Chat(assistant, OTHER_MERCHANT, OTHER_MERCHANT)
    assert "失效" in joined(replies_of(await other.send(ButtonPress, choice=f"reopen.{ticket_id}", version=0)))


async def test_merchant_withdraws_a_waiting_ticket(chat: Chat, assistant, sessions, clock, people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    kept = await chat.send(Command, name="cancel")
    assert "要撤回工单" in joined(replies_of(kept))
    assert "继续为您保留" in joined(replies_of(await chat.send(ButtonPress, choice=f"keep.{ticket_id}", version=0)))
    outputs = await withdraw(chat, ticket_id)
    assert any(isinstance(o, Reply) and o.thread_id == 77 and "撤回" in o.text for o in outputs)
    assert "已撤回工单" in joined(replies_of(outputs)) and "请选择" in joined(replies_of(outputs))
    async with sessions() as session:
        [ticket] = await UnitOfWork(session).tickets.all()
    assert (ticket.state, ticket.close_reason) == ("closed", "withdrawn")
    # a message afterwards is simply the assistant again, no reopen offer for a withdrawn ticket
    assert "请选择" in await chat.say("你好")


async def test_after_close_a_message_offers_reopening_within_24_hours(chat: Chat, assistant, sessions, clock,
                                                                     people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    await Staff(assistant).command(77, "close")
    clock.advance(hours=2)
    outputs = await chat.send(Text, text="还是查不到", message_id=300)
    text = joined(replies_of(outputs))
    assert "已于" in text and "重新打开" in text and not any(isinstance(o, Copy) for o in outputs)
    text = await chat.say("还有问题")  # offered once; then the assistant answers (here: which topic is meant)
    assert "重新打开" not in text and "human" in chat.buttons
    outputs = await chat.send(ButtonPress, choice=f"reopen.{ticket_id}", version=0)
    assert Copy(ticket_id, 1000, (300,), SUPPORT_CHAT, 77, None) in outputs  # the message that asked is relayed
    assert TopicState(SUPPORT_CHAT, 77, f"#{ticket_id} · 77889900 · Test", closed=False) in outputs
    assert "已重新打开" in joined(replies_of(outputs))
    assert [o for o in await chat.send(Text, text="补充信息") if isinstance(o, Copy)]


async def test_after_24_hours_the_merchant_gets_the_menu(chat: Chat, assistant, clock, people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    await Staff(assistant).command(77, "close")
    clock.advance(hours=25)
    text = joined(replies_of(await chat.send(Text, text="还是查不到")))
    assert "重新打开" not in text and "常见原因" in text  # the assistant answers the question
    assert chat.buttons == ["find", "status", "human", "help", "lang"]
    text = joined(replies_of(await chat.send(ButtonPress, choice=f"reopen.{ticket_id}", version=0)))
    assert "超过 24 小时" in text


async def test_staff_reopen_tickets_lookup_reply_queue(chat: Chat, assistant, sessions, clock, people) -> None:
    issued = clock.today - timedelta(days=30)
    await add_invoices(sessions, clock.now, invoice(code12(issued), "12345678", issued, seller_name="某销售方"))
    ticket_id = await open_ticket(chat, assistant, clock)
    staff = Staff(assistant)
    queue = joined(replies_of(await staff.command(None, "queue")))
    assert f"#{ticket_id} Test，已等待 0 分钟" in queue
    record = joined(replies_of(await staff.command(77, "lookup", "12345678")))
    assert "某销售方" in record and "¥1,130.00" in record and "已同步" in record
    assert "没有找到" in joined(replies_of(await staff.command(77, "lookup", "00000000")))
    outputs = await staff.command(77, "reply", "hotline")
    assert any(o.chat_id == 1000 and "12366" in o.text for o in replies_of(outputs))
    assert "hotline" in joined(replies_of(await staff.command(77, "reply", "nonsense")))
    await staff.command(77, "close")
    assert "没有等待认领" in joined(replies_of(await staff.command(None, "queue")))
    outputs = await staff.command(77, "reopen")
    assert any(o.chat_id == 1000 and "客服重新打开了" in o.text for o in replies_of(outputs))
    assert [o for o in await chat.send(Text, text="好的") if isinstance(o, Copy)]  # relaying again
    assert "#" in joined(replies_of(await chat.send(Command, name="tickets")))


async def test_waiting_tickets_are_announced_again_and_deadlines_survive_restarts(chat: Chat, assistant,
                                                                                 settings, sessions, clock,
                                                                                 people) -> None:
    from tests.conftest import make_assistant

    ticket_id = await open_ticket(chat, assistant, clock)
    assert await assistant.due() == []
    clock.advance(minutes=16)
    restarted = make_assistant(settings, sessions, clock)  # a new process: the deadline is in the database
    [notice] = await restarted.due()
    assert notice.chat_id == SUPPORT_CHAT and notice.thread_id is None and f"#{ticket_id}" in notice.text
    assert "16 分钟" in notice.text
    assert await restarted.due() == []  # announced once per interval
    await Staff(restarted).command(77, "claim")
    clock.advance(minutes=60)
    assert await restarted.due() == []


async def test_lost_topic_gets_a_new_one(chat: Chat, assistant, sessions, clock, people) -> None:
    """A copy whose topic was deleted: a new topic with the card, the copy made into it, nothing lost."""
    ticket_id = await open_ticket(chat, assistant, clock)
    [copy] = await chat.send(Text, text="在吗", message_id=89)
    [opened] = await assistant.take([DeliveryFailed(copy, "topic_gone", "Bad Request: message thread not found")])
    assert isinstance(opened, OpenTopic) and opened.ticket_id == ticket_id
    assert opened.then == (Copy(ticket_id, 1000, (89,), SUPPORT_CHAT, None, None),)
    assert await assistant.take([DeliveryFailed(copy, "topic_gone")]) == []  # taken in once
    assert await assistant.take([OutputDelivered(opened, thread_id=88, message_ids=(880, 881))]) == []
    assert await chat.send(Text, text="还在吗", message_id=90) == [Copy(ticket_id, 1000, (90,), SUPPORT_CHAT, 88, None)]
    assert ("topic_lost", "open", None) in await events_of(sessions, ticket_id)
    async with sessions() as session:
        assert [(r.source_message_id, r.copy_message_id) for r in await rows(session, RelayedMessage, RelayedMessage.ticket_id == ticket_id)] == [(89, 881)]
        [ticket] = await UnitOfWork(session).tickets.all()
    assert (ticket.topic_id, ticket.card_message_id) == (88, 880)


async def test_a_copy_made_before_its_topic_was_known_goes_into_it(chat: Chat, assistant, clock, people) -> None:
    issued = clock.today - timedelta(days=30)
    outputs = await chat.send(Text, text=f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    [copy] = await chat.send(Text, text="补充一下", message_id=60)  # the topic is not created yet
    assert copy.thread_id is None
    await assistant.take([OutputDelivered(opened, thread_id=77, message_ids=(700,))])
    assert await assistant.take([DeliveryFailed(copy, "no_topic")]) == [
        Copy(opened.ticket_id, 1000, (60,), SUPPORT_CHAT, 77, None)]


async def test_a_copy_that_comes_before_its_waiting_topic_is_held_not_given_a_second_topic(chat: Chat, assistant,
                                                                                          sessions, clock,
                                                                                          people) -> None:
    """The topic waits for the support group's turn (another process holds it, say) when the copy is tried."""
    issued = clock.today - timedelta(days=30)
    outputs = await chat.send(Text, text=f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    [first] = await chat.send(Text, text="补充一下", message_id=60)
    [second] = await chat.send(Text, text="还有这个", message_id=61)
    assert await assistant.take([DeliveryFailed(first, "no_topic")]) == []  # held: no second topic
    assert await assistant.take([DeliveryFailed(second, "no_topic")]) == []
    assert ("copy_held", "open", None) in await events_of(sessions, opened.ticket_id)
    assert await assistant.take([OutputDelivered(opened, thread_id=77, message_ids=(700,))]) == [
        Copy(opened.ticket_id, 1000, (60,), SUPPORT_CHAT, 77, None),
        Copy(opened.ticket_id, 1000, (61,), SUPPORT_CHAT, 77, None)]


async def test_topic_closed_by_hand_closes_the_ticket(chat: Chat, assistant, sessions, clock, people) -> None:
    await open_ticket(chat, assistant, clock)
    outputs = await Staff(assistant).send(77, TopicClosed)
    assert any(isinstance(o, Reply) and o.chat_id == 1000 and "已关闭" in o.text for o in outputs)
    assert not any(isinstance(o, TopicState) for o in outputs)  # Telegram already closed it
    async with sessions() as session:
        assert (await UnitOfWork(session).tickets.all())[0].state == "closed"


async def test_blocked_merchant_is_noted_in_the_topic(chat: Chat, assistant, sessions, clock, people) -> None:
    await open_ticket(chat, assistant, clock)
    [copy] = await Staff(assistant).send(77, Text, text="您好")
    [notice] = await assistant.take([DeliveryFailed(copy, "blocked", "Forbidden: bot was blocked by the user")])
    assert notice.thread_id == 77 and "屏蔽" in notice.text
    async with sessions() as session:
        assert (await UnitOfWork(session).users.get(1000)).unreachable is True


async def test_without_a_support_group_tickets_are_kept(settings, sessions, clock, people) -> None:
    from tests.conftest import make_assistant

    await add_user(sessions, clock.now, user_id=999, role="admin", companies=())
    assistant = make_assistant(settings.model_copy(update={"support_chat_id": None}), sessions, clock)
    chat = Chat(assistant)
    await chat.command("start")
    outputs = await chat.send(ButtonPress, choice="human", version=chat.history[-1].version)
    assert not any(isinstance(o, OpenTopic) for o in outputs)
    assert "客服会通过其他方式联系您" in joined(replies_of(outputs))
    assert await chat.send(Text, text="我的发票号码是 12345678") == []
    async with sessions() as session:
        [ticket] = await UnitOfWork(session).tickets.all()
        stored = [e.detail for e in await UnitOfWork(session).tickets.events(ticket.id) if e.event == "message"]
    assert stored[0]["text"] == "我的发票号码是 12345678"
    [warning] = await assistant.startup_notices()
    assert warning.chat_id == 999 and "SUPPORT_CHAT_ID" in warning.text


async def test_chatter_outside_ticket_topics_is_ignored(chat: Chat, assistant, clock, people) -> None:
    await open_ticket(chat, assistant, clock)
    member = Staff(assistant, user_id=OTHER_MERCHANT, name="群成员")
    assert await member.send(None, Text, text="大家好") == []
    assert await member.send(12345, Text, text="别的话题") == []
    assert "只有客服" in joined(replies_of(await member.command(None, "queue")))


async def test_a_card_pressed_before_its_id_was_reported_is_still_updated(chat: Chat, assistant, clock,
                                                                          people) -> None:
    issued = clock.today - timedelta(days=30)
    outputs = await chat.send(Text, text=f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    # the topic was made but the card did not get through: it is posted into that topic, not a new one
    [card] = await assistant.take([OutputDelivered(opened, thread_id=77)])
    assert isinstance(card, Reply) and card.thread_id == 77 and card.text == opened.card.text
    outputs = await Staff(assistant).send(77, ButtonPress, choice=f"claim.{opened.ticket_id}", version=0, message_id=700)
    assert any(isinstance(o, EditCard) and o.message_id == 700 for o in outputs)
    assert await Staff(assistant).send(77, ButtonPress, choice="find", version=3, message_id=700) == []


async def test_a_forged_button_changes_nothing_before_the_role_check(chat: Chat, assistant, sessions, clock,
                                                                    people) -> None:
    issued = clock.today - timedelta(days=30)
    outputs = await chat.send(Text, text=f"代码 {code12(issued, batch='500')} 号码 77889900 日期 {issued} 校验码 123456")
    [opened] = [o for o in outputs if isinstance(o, OpenTopic)]
    # a group member who is not staff presses a forged "claim" on some other message, in another topic
    answer = await Staff(assistant, user_id=OTHER_MERCHANT, name="路人").send(
        5, ButtonPress, choice=f"claim.{opened.ticket_id}", version=0, message_id=4321)
    assert any(isinstance(o, Reply) and "只有客服" in o.text for o in answer)
    async with sessions() as session:
        ticket = await UnitOfWork(session).tickets.get(opened.ticket_id)
    assert ticket is not None and ticket.card_message_id is None and ticket.state == "open"
    # once its topic is known, a press in another topic cannot move the card either; one in its own can
    await assistant.take([OutputDelivered(opened, thread_id=77)])  # the topic made, the card not posted
    await Staff(assistant).send(5, ButtonPress, choice=f"claim.{opened.ticket_id}", version=0, message_id=4321)
    async with sessions() as session:
        ticket = await UnitOfWork(session).tickets.get(opened.ticket_id)
    assert ticket is not None and ticket.card_message_id is None
    await Staff(assistant).send(77, ButtonPress, choice=f"close.{opened.ticket_id}", version=0, message_id=700)
    async with sessions() as session:
        ticket = await UnitOfWork(session).tickets.get(opened.ticket_id)
    assert ticket is not None and ticket.card_message_id == 700


async def test_asking_and_withdrawing_by_turns_opens_one_ticket_and_one_topic(chat: Chat, assistant, sessions,
                                                                             clock, people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    outputs: list = []
    for _ in range(4):  # the first request and four more: the day's five
        outputs += await withdraw(chat, ticket_id)
        clock.advance(minutes=1)
        outputs += await chat.send(Command, name="human")
    assert not [o for o in outputs if isinstance(o, OpenTopic)]  # the same topic, reopened each time
    reopened = [o for o in outputs if isinstance(o, TopicState) and not o.closed]
    assert len(reopened) == 4 and all(o.thread_id == 77 for o in reopened)
    assert f"#{ticket_id}" in chat.history[-1].text
    async with sessions() as session:
        [ticket] = await UnitOfWork(session).tickets.all()
    assert (ticket.id, ticket.state, ticket.topic_id, ticket.reason) == (ticket_id, "open", 77, "requested")
    assert (await events_of(sessions, ticket_id)).count(("reopen", "open", 1000)) == 4
    await withdraw(chat, ticket_id)
    assert "达到每天的上限" in await chat.command("human")  # each costs the group's shared rate: capped too
    async with sessions() as session:
        [ticket] = await UnitOfWork(session).tickets.all()
    assert ticket.state == "closed"


async def test_a_daily_cap_on_new_tickets(settings, sessions, clock, people) -> None:
    from tests.conftest import make_assistant

    assistant = make_assistant(settings.model_copy(update={"tickets_per_day": 1}), sessions, clock)
    chat = Chat(assistant)
    await open_ticket(chat, assistant, clock)
    await Staff(assistant).command(77, "close", "已处理")
    clock.advance(hours=1)
    await chat.command("start")
    text = await chat.command("human")
    assert "达到每天的上限" in text and "明天 00:00" in text and "工单 <b>#" not in text
    async with sessions() as session:
        assert len(await UnitOfWork(session).tickets.all()) == 1
    clock.advance(hours=13)  # the next day in Beijing
    await chat.command("start")
    assert "已为您创建人工工单" in await chat.command("human")


async def test_a_request_from_the_menu_does_not_claim_details_were_given(chat: Chat, assistant, sessions, clock,
                                                                        people) -> None:
    await chat.command("start")
    text = await chat.press("human")
    assert "工单 <b>#" in text and "无需重复说明" not in text and "直接说明您遇到的问题" in text
    assert chat.buttons[0].startswith("withdraw.")  # under the ticket message: what works while it is open
    await chat.press(chat.buttons[0])
    assert "已撤回" in chat.history[-2].text or "已撤回" in chat.history[-1].text
    listed = await chat.command("tickets")
    assert "已撤回" in listed and "待认领" not in listed  # in the merchant's words, not the staff's


async def test_help_and_language_work_during_a_ticket(chat: Chat, assistant, clock, people) -> None:
    ticket_id = await open_ticket(chat, assistant, clock)
    text = await chat.command("help")
    assert "使用说明" in text and f"#{ticket_id}" in text
    text = await chat.command("lang")
    assert "Switched to English" in text
    assert f"Your ticket #{ticket_id}" in text  # the reminder already in the new language

