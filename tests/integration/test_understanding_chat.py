"""What merchants say in their own words, through the core: acted on, answered, or asked back — never echoed.

Every phrasing here is checked not to be a training example: these tests judge understanding, not recall.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.store.models import FollowUp, Ticket
from assistant.store.uow import UnitOfWork
from assistant.understanding.classifier import load_examples, normalise
from tests.conftest import Chat
from tests.factories import add_invoices, add_user, code12, invoice

TRAINED = {normalise(text) for _, _, text in load_examples()}


def unseen(text: str) -> str:
    assert normalise(text) not in TRAINED, f"{text!r} is a training example"
    return text


@pytest.fixture
async def merchant(sessions, clock) -> None:
    await add_user(sessions, clock.now)


async def tickets(sessions) -> list[Ticket]:
    async with sessions() as session:
        return list(await UnitOfWork(session).tickets.all())


async def start_window(sessions, clock, hours: int = 2) -> None:
    async with sessions() as session, session.begin():
        await UnitOfWork(session).maintenance.add(starts_at=clock.now - timedelta(minutes=5),
                                                  ends_at=clock.now + timedelta(hours=hours), message_zh="系统升级",
                                                  message_en="System upgrade", created_by=None, now=clock.now)


@pytest.mark.parametrize("text", ["麻烦让你们的工作人员来处理一下", "别跟机器说了，给我找个活人"])
async def test_asking_for_a_person_opens_a_ticket(chat: Chat, sessions, merchant, text: str) -> None:
    await chat.command("start")
    reply = await chat.say(unseen(text))
    assert "已为您创建人工工单" in reply and "点菜单" not in reply
    assert [t.reason for t in await tickets(sessions)] == ["requested"]
    assert text not in reply


async def test_asking_for_a_person_while_collecting_hands_over_what_was_given(chat: Chat, sessions,
                                                                                merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say("号码 12345678")
    reply = await chat.say(unseen("算了不弄了，直接转你们客服吧"))
    assert "已为您创建人工工单" in reply and "请发送<b>发票代码</b>" not in reply
    [ticket] = await tickets(sessions)
    assert ticket.fields == {"number": "12345678"}


async def test_english_person_request(chat: Chat, sessions, clock) -> None:
    await add_user(sessions, clock.now, language="en")
    chat.language = "en"
    await chat.command("start")
    reply = await chat.say(unseen("pls can a real human look at this"))
    assert "I opened support ticket" in reply
    assert len(await tickets(sessions)) == 1


async def test_is_the_system_down_answers_with_the_state_now(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    reply = await chat.say(unseen("你们系统今天是不是又崩了？"))
    assert "现在没有维护" in reply and "/status" not in reply and chat.buttons == ["find", "menu"]
    await start_window(sessions, clock)
    reply = await chat.say(unseen("系统是不是又挂了，一直查不了"))
    assert "系统正在维护" in reply and "今天 12:00" in reply and "notify" in chat.buttons
    assert "不用重新查询" not in reply
    reply = await chat.press("notify")
    assert "维护结束后" in reply and "重新查询这张发票" not in reply  # nothing to look up again
    async with sessions() as session:
        follow_ups = list((await session.execute(FollowUp.__table__.select())).all())
    assert [f.kind for f in follow_ups] == ["maintenance_over"]


async def test_a_follow_up_is_about_what_was_just_said(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    await start_window(sessions, clock, hours=3)
    await chat.command("start")
    reply = await chat.say(f"代码 {code12(issued)} 号码 12345678 日期 {issued} 校验码 567890")
    assert "维护" in reply
    reply = await chat.say(unseen("那得等到几点呀"))
    assert "系统正在维护" in reply and "今天 13:00" in reply


async def test_a_follow_up_after_the_sync_delay_answer(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    reply = await chat.say(f"代码 {code12(clock.today)} 号码 55667788 日期 {clock.today} 校验码 123456")
    assert "最少需要一天" in reply
    reply = await chat.say(unseen("那我现在该咋办呢"))
    assert "新开的发票" in reply
    reply = await chat.say(unseen("还要等几天啊"))
    day = clock.today + timedelta(days=2)
    assert f"{day.month}月{day.day}日 00:00" in reply  # the expected time of *this* invoice


async def test_a_follow_up_without_context_is_asked_about(chat: Chat, merchant) -> None:
    await chat.command("start")
    reply = await chat.say(unseen("所以到底为啥嘛"))
    assert "请点选最接近的一项" in reply and "为啥" not in reply
    assert [c for c in chat.buttons if c.startswith("ask.")] and "human" in chat.buttons


async def test_an_unclear_message_is_never_echoed(chat: Chat, merchant) -> None:
    await chat.command("start")
    reply = await chat.say("asdkjh qwe zzkx")
    assert "asdkjh" not in reply and "没有理解" not in reply and "human" in chat.buttons


async def test_a_did_you_mean_button_answers_that_topic(chat: Chat, merchant) -> None:
    await chat.command("start")
    await chat.say("asdkjh qwe zzkx")
    assert [c for c in chat.buttons if c.startswith("ask.")]
    reply = await chat.press_old("ask.reissue", chat.history[-1].version)
    assert "只有开票方能重开发票" in reply


@pytest.mark.parametrize(("text", "expected"), [
    ("怎么老是显示茶无此票啊", "常见原因"),  # a homophone typed by a pinyin keyboard
    ("深圳那边开的票你们这能查到不", "北京"),
    ("对方给我开的票能不能帮我重新开一张", "只有开票方能重开发票"),
    ("个税汇算清缴在哪弄", "12366"),
    ("这张票勾选不了没法抵扣咋整", "勾选"),
    ("我是不是哪个数字输错了", "数字 0 和字母 O"),
    ("收到的全电票跟以前的有啥区别", "数电"),
    ("供应商说那张票给做废了，我该咋弄", "发票作废"),
    ("票被洪冲了还能拿来抵税不", "不能再抵扣"),
    ("系统提示这张是异常凭证什么情况", "异常凭证"),
    ("对方是不是压根没上传啊，会不会是假票", "离线开票"),
    ("一张票一天到底能验几回", "每天最多查验 5 次"),
    ("查验要填哪几样东西啊", "查验需要"),
    ("金额那栏到底写含税的还是不含税的", "填哪个金额"),
    ("前年年初的票现在还能验吗，都好几年了", "5 年"),
    ("验出来说信息对不上是怎么回事", "不一致"),
])
async def test_questions_in_merchants_words(chat: Chat, merchant, text: str, expected: str) -> None:
    await chat.command("start")
    reply = await chat.say(unseen(text))
    assert expected in reply, reply
    assert text not in reply


async def test_a_complaint_is_acknowledged_first_with_a_person_offered(chat: Chat, merchant) -> None:
    await chat.command("start")
    reply = await chat.say(unseen("你们这效率也太低了吧，耽误我一上午"))
    assert reply.startswith("非常抱歉") and "human" in chat.buttons


async def test_asking_to_check_starts_the_lookup(chat: Chat, merchant) -> None:
    await chat.command("start")
    reply = await chat.say(unseen("帮我查查这张票呗"))
    assert "请发送<b>发票号码</b>" in reply


async def test_a_question_with_a_date_takes_the_date_and_answers(chat: Chat, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    reply = await chat.say(unseen("今天开的票多久才能查到啊"))
    assert "新开的发票" in reply and f"开票日期 <code>{clock.today.isoformat()}</code>" in reply


async def test_fields_always_win_over_words(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    reply = await chat.say(f"转人工之前先帮我查下 代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    assert "找到了，信息一致" in reply and await tickets(sessions) == []


@pytest.mark.parametrize(("text", "expected"), [("在吗在吗？", "您好"), ("多谢啦，问题解决了", "不客气"),
                                                ("好嘞，晓得了", "好的"),
                                                ("哈喽哈喽，这会儿有人在线不", "您好")])
async def test_small_talk_gets_a_word_back_and_the_menu(chat: Chat, merchant, text: str, expected: str) -> None:
    await chat.command("start")
    reply = await chat.say(unseen(text))
    assert expected in reply and "请选择" in reply and "find" in chat.buttons


@pytest.mark.parametrize(("text", "expected"), [
    ("where do I find the check code on it", "check code"),
    ("my supplier says they voided it, what now", "voided"),
    ("is there any limit on how many times I can verify", "5 times"),
])
async def test_english_questions(chat: Chat, sessions, clock, text: str, expected: str) -> None:
    await add_user(sessions, clock.now, language="en")
    chat.language = "en"
    await chat.command("start")
    reply = await chat.say(unseen(text))
    assert expected in reply, reply


async def test_what_now_after_a_voided_answer_is_about_the_voided_invoice(chat: Chat, sessions, clock,
                                                                          merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued, status="voided"))
    await chat.command("start")
    reply = await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    assert "作废" in reply
    reply = await chat.say(unseen("那现在我该怎么弄"))
    assert "请联系开票方重新开具" in reply


async def test_what_can_you_do_gets_the_help(chat: Chat, merchant) -> None:
    await chat.command("start")
    reply = await chat.say(unseen("你这个机器人都能帮我干点啥"))
    assert "使用说明" in reply


async def test_how_long_after_a_voided_answer_is_asked_about(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued, status="voided"))
    await chat.command("start")
    await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    reply = await chat.say(unseen("那得等多少天啊"))
    assert "请点选最接近的一项" in reply and "发票作废" not in reply
