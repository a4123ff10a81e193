"""Conversation mechanics: collecting input, menus, commands, restarts, stale buttons and bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant.outputs import Failed
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.messages import Text
from assistant.store.uow import UnitOfWork
from flows.troubleshoot import STATE_NAMES
from tests.conftest import Chat, FakeClock
from tests.factories import add_invoices, add_user, code12, invoice


@pytest.fixture
async def merchant(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    await add_user(sessions, clock.now)


async def conversation(sessions: async_sessionmaker[AsyncSession], chat_id: int = 1000) -> tuple[str, dict]:
    async with sessions() as session:
        row, _ = await UnitOfWork(session).conversations.get(chat_id, chat_id, initial="menu", now=FakeClock().now)
        return row.state, row.data


async def test_start_greets_and_offers_the_menu(chat: Chat, merchant) -> None:
    text = await chat.command("start")
    assert "发票查询助手" in text and "请选择" in text
    assert chat.buttons == ["find", "status", "human", "help", "lang"]


async def test_any_first_message_greets(chat: Chat, sessions, merchant) -> None:
    text = await chat.say("你好")
    assert "发票查询助手" in text and "请选择" in text
    assert (await conversation(sessions))[0] == "menu"


async def test_first_message_with_an_invoice_starts_the_check(chat: Chat, sessions, clock, merchant) -> None:
    text = await chat.say("查不到发票 号码 12345678")
    assert "发票查询助手" in text and "已收到：发票号码 <code>12345678</code>" in text and "发票代码" in text
    assert (await conversation(sessions))[0] == "collecting"


async def test_a_pasted_invoice_shows_what_was_read_before_the_answer(chat: Chat, sessions, clock,
                                                                      merchant) -> None:
    """The date as e-invoices print it (with a time), a phone number and a tax id beside the fields: the
    reply first says what was checked, and no amount or time is ever compared."""
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    text = await chat.say(f"代码 {code} 号码 1234 5678 日期 {issued.isoformat()} 10:23:45 校验码 567890 "
                          "电话 010-62345678 税号 91110000600037341L")
    first = next(line for line in text.split("\n") if line.startswith("🔎"))
    assert text.index("🔎") < text.index("找到了") and f"<code>{code}</code>" in first and "<code>12345678</code>" in first
    assert f"<code>{issued.isoformat()}</code>" in first and "<code>567890</code>" in first
    assert "找到了，信息一致" in text and "不一致" not in text and "无法判断" not in text
    assert "<code>91110000600037341L</code>、<code>010-62345678</code> 是税号或电话号码" in text


async def test_an_amount_in_wan_is_asked_for_exactly(chat: Chat, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    text = await chat.say(f"代码 1100262130 号码 00112233 日期 {clock.today.isoformat()} 金额 1.5万")
    assert "“1.5万”是个约数" in text and "15000.00" in text and "请发送<b>不含税金额</b>" in text


async def test_fields_one_at_a_time_in_any_order(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    assert "发票号码" in await chat.press("find")
    text = await chat.say(code)  # a code when the number was asked: recognised by its shape
    assert f"发票代码 <code>{code}</code>" in text and "请发送<b>发票号码</b>" in text
    text = await chat.say("１２３４５６７８")  # full-width digits
    assert "请发送<b>开票日期</b>" in text
    text = await chat.say(f"{issued.year}年{issued.month}月{issued.day}日")
    assert "校验码后 6 位" in text and "增值税电子普通发票" in text
    text = await chat.say("1234 5678 9012 3456 7890")  # the whole check code, with spaces
    assert "找到了，信息一致" in text
    _, data = await conversation(sessions)
    assert data["fields"] == {"code": code, "number": "12345678", "date": issued.isoformat(),
                              "check_code": "567890"}


async def test_asks_for_the_fourth_field_of_the_family(chat: Chat, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    await chat.command("start")
    await chat.press("find")
    assert "不含税金额" in await chat.say(f"代码 1100{issued.year % 100:02d}2130 号码 00112233 日期 {issued}")
    await chat.press("menu")
    await chat.press("find")
    text = await chat.say(f"号码 {issued.year % 100:02d}112000000012345678 日期 {issued}")
    assert "价税合计" in text and "数电票" in text


async def test_says_exactly_what_is_wrong(chat: Chat, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    text = await chat.say("1234567")
    assert "发票号码应为 8 位数字（数电票为 20 位），您输入了 7 位" in text
    text = await chat.say("代码 O11OO19OO111 号码 12345678")
    assert "字母 O" in text and "011001900111" in text
    text = await chat.say("代码 011001900111 日期 2026-02-30")
    assert "不存在" in text
    text = await chat.say(f"日期 {clock.today + timedelta(days=1)}")
    assert "晚于今天" in text
    text = await chat.say("日期 2019-01-01")
    assert "超过 5 年" in text


async def test_year_in_code_versus_date_is_a_soft_warning(chat: Chat, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    await chat.command("start")
    await chat.press("find")
    text = await chat.say(f"代码 011002410011 号码 12345678 日期 {issued}")
    assert "年份是 2024 年" in text and "校验码" in text  # warned, and the flow goes on


async def test_amount_rules(chat: Chat, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 1100{issued.year % 100:02d}2130 号码 00112233 日期 {issued}")
    assert "最多保留两位小数" in await chat.say("12.345")
    assert "应大于 0" in await chat.say("0")
    assert "不一致" not in await chat.say("¥1,000.00")


async def test_three_failures_offer_a_person(chat: Chat, sessions, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    for _ in range(2):
        await chat.say("123")
        assert "human" not in chat.buttons
    text = await chat.say("123")
    assert "人工客服" in text and "human" in chat.buttons
    text = await chat.press("human")
    assert "工单" in text
    async with sessions() as session:
        [ticket] = await UnitOfWork(session).tickets.all()
    assert ticket.reason == "input_failures"


async def test_cancel_returns_to_the_menu_from_anywhere(chat: Chat, sessions, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say("号码 12345678")
    text = await chat.command("cancel")
    assert "请选择" in text
    state, data = await conversation(sessions)
    assert state == "menu" and "fields" not in data


async def test_talk_to_a_person_from_the_menu(chat: Chat, sessions, merchant) -> None:
    await chat.command("start")
    text = await chat.press("human")
    assert "工单" in text
    assert "工单" in await chat.command("human")  # asking again shows the same ticket
    async with sessions() as session:
        tickets = await UnitOfWork(session).tickets.all()
    assert [(t.reason, t.user_id) for t in tickets] == [("requested", 1000)]


async def test_help_status_and_language(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    assert "使用说明" in await chat.command("help")
    assert "系统运行正常" in await chat.press("status")
    async with sessions() as session, session.begin():
        await UnitOfWork(session).maintenance.add(starts_at=clock.now + timedelta(days=1),
                                             ends_at=clock.now + timedelta(days=1, hours=2),
                                             message_zh="计划升级", message_en="planned upgrade", now=clock.now)
    assert "计划中的维护" in await chat.command("status")
    text = await chat.command("lang")
    assert "Switched to English" in text and "What would you like to do?" in text
    assert "Planned maintenance" in await chat.command("status")
    async with sessions() as session:
        assert (await UnitOfWork(session).users.get(1000)).language == "en"


async def test_new_users_get_their_telegram_language(chat: Chat) -> None:
    chat.language = "en-US"
    assert "What would you like to do?" in await chat.command("start")


async def test_restart_continues_the_conversation(settings, sessions, clock, merchant) -> None:
    from tests.conftest import make_assistant

    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    first = Chat(make_assistant(settings, sessions, clock))
    await first.command("start")
    await first.press("find")
    await first.say(f"代码 {code} 号码 12345678")
    # a new process: new engine, new machine, same database
    from assistant.store.engine import make_engine, make_sessions

    engine = make_engine(settings.database_url)
    try:
        second = Chat(make_assistant(settings, make_sessions(engine), clock))
        text = await second.say(f"{issued}")
        assert "校验码后 6 位" in text
        assert "找到了" in await second.say("567890")
    finally:
        await engine.dispose()


async def test_outdated_button_gets_expired_and_current_prompt(chat: Chat, sessions, merchant) -> None:
    await chat.command("start")
    menu_version = chat.history[-1].version
    await chat.press("find")
    await chat.say("号码 12345678")
    text = await chat.press_old("status", menu_version)
    assert "菜单已过期" in text and "请发送<b>发票代码</b>" in text
    assert (await conversation(sessions))[0] == "collecting"


async def test_button_not_valid_in_this_state(chat: Chat, merchant) -> None:
    await chat.command("start")
    text = await chat.press_old("yes", chat.history[-1].version)
    assert "不可用" in text and "请选择" in text


async def test_unknown_command_and_attachments(chat: Chat, merchant) -> None:
    await chat.command("start")
    text = await chat.command("frobnicate")
    assert "/frobnicate" in text and "/start" in text
    assert "贴纸" in await chat.send_attachment("sticker")
    assert "位置" in await chat.send_attachment("location")


BAD_INPUTS = [
    "", "   ", "x" * 10_000, "😀🧾💸", "'; DROP TABLE invoices; --", "<script>alert(1)</script>",
    "<b>bold</b> & <i>", "\x00\x01\x1b[31m控制字符\x7f", "号码 \u200b1234\u200b5678", "٣٤٥", "NaN", "Infinity",
    "金额 1e309", "日期 9999-99-99", "号码 " + "9" * 500,
]


@pytest.mark.parametrize("text", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
async def test_bad_input_gets_a_clear_reply_and_state_stays_valid(chat: Chat, sessions, merchant, text) -> None:
    await chat.command("start")
    await chat.press("find")
    replies = await chat.assistant.handle(Text(user_id=1000, chat_id=1000, text=text))
    assert replies, "every message gets an answer"
    combined = "\n".join(r.text for r in replies)
    assert "出了点问题" not in combined  # not the internal-error reply
    assert "<script>" not in combined
    state, data = await conversation(sessions)
    assert state in STATE_NAMES
    assert set(data.get("fields", {})) <= {"code", "number", "date", "amount", "check_code", "total"}


async def test_bad_input_in_every_resting_state(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    answers = {}
    for text in ("<b>qwzx</b>", "", "😀"):
        replies = await chat.assistant.handle(Text(user_id=1000, chat_id=1000, text=text))
        answers[text] = "\n".join(r.text for r in replies)
        assert {"human", "menu"} <= set(replies[-1].choices)  # a way on: a person, or the menu
    assert "qwzx" not in answers["<b>qwzx</b>"] and "😀" not in answers["😀"]  # never echoed
    assert "空消息" in answers[""]
    assert (await conversation(sessions))[0] == "found"


async def test_html_typed_by_the_user_never_reaches_a_reply(chat: Chat, merchant) -> None:
    """Free text is answered, never quoted back; where a typed value is shown it is escaped (the templates'
    test renders one with markup)."""
    await chat.command("start")
    for text in ("<b>hi</b> & bye", "<a href='x'>查不到</a>"):
        reply = await chat.say(text)
        assert "<b>hi</b>" not in reply and "<a href" not in reply and "&lt;" not in reply


async def test_two_chats_do_not_mix(assistant, sessions, clock, merchant) -> None:
    await add_user(sessions, clock.now, user_id=2000)
    one, two = Chat(assistant, 1000, 1000), Chat(assistant, 2000, 2000)
    await one.command("start")
    await two.command("start")
    await one.press("find")
    await one.say("号码 12345678")
    assert "请选择" in await two.say("hello")
    assert (await conversation(sessions, 2000))[0] == "menu"
    assert (await conversation(sessions, 1000))[1]["fields"] == {"number": "12345678"}


async def test_a_failure_inside_the_core_keeps_the_users_place(chat: Chat, sessions, clock, merchant,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.troubleshoot import Troubleshoot

    async def broken(self, event) -> None:
        raise RuntimeError("database fell over")

    await chat.command("start")
    await chat.press("find")
    await chat.say("号码 12345678")
    monkeypatch.setattr(Troubleshoot, "diagnose", broken)
    with pytest.raises(Failed):  # the inbox tries it again, then tells the merchant (tests/integration/test_inbox.py)
        await chat.say(f"代码 {code12(clock.today - timedelta(days=30))} 日期 {clock.today - timedelta(days=30)} "
                       "校验码 123456")
    state, data = await conversation(sessions)
    assert state == "collecting" and data["fields"] == {"number": "12345678"}  # rolled back, nothing half-done
    monkeypatch.undo()
    assert "请发送<b>发票代码</b>" in await chat.say("你好？")


@pytest.mark.parametrize(("language", "question", "answer"), [
    ("zh", "发票作废了怎么办", "不能再使用"),
    ("en", "what does inconsistent mean", "differs from the record"),
    ("zh", "新开的发票多久能查到", "次日起才能查验"),
])
async def test_free_text_questions_are_answered_with_the_menu(chat: Chat, merchant, language, question,
                                                              answer) -> None:
    await chat.command("start")
    if language == "en":
        await chat.command("lang")
    text = await chat.say(question)
    assert answer in text
    assert chat.buttons == ["find", "status", "human", "help", "lang"]


async def test_questions_it_cannot_answer_get_the_menu_and_a_person(chat: Chat, merchant) -> None:
    await chat.command("start")
    text = await chat.say("你们公司在哪里")
    assert "你们公司在哪里" not in text and "没有理解" not in text and "human" in chat.buttons


async def test_a_question_while_collecting_is_answered_and_the_field_asked_again(chat: Chat, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say("号码 12345678")
    text = await chat.say("校验码在哪里？")
    assert "右上方" in text and "请发送<b>发票代码</b>" in text


async def test_a_first_message_that_is_a_question_is_answered(chat: Chat, merchant) -> None:
    text = await chat.say("为什么查不到发票")
    assert "发票查询助手" in text and "常见原因" in text


async def test_greetings_and_thanks_get_a_word_back(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    text = await chat.say("你好")
    assert "您好" in text and "没有理解" not in text and "find" in chat.buttons
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    text = await chat.say("谢谢！")
    assert "不客气" in text and "没有理解" not in text
    assert chat.buttons == ["find", "human", "menu"]  # the outcome's buttons again
    assert (await conversation(sessions))[0] == "found"
