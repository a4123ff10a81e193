"""Typed fields as merchants type them, through the conversation: taken when clear, asked when not, said when
inferred — and a near match offered before the region or the sync delay is blamed."""

from __future__ import annotations

from datetime import timedelta

import pytest


from tests.conftest import Chat
from tests.factories import add_invoices, add_user, code12, invoice
from tests.integration.test_conversation import conversation
from tests.integration.test_outcomes import diagnoses


@pytest.fixture
async def merchant(sessions, clock) -> None:
    await add_user(sessions, clock.now)


# -- letters typed for digits ---------------------------------------------------------------------------
async def test_a_letter_in_the_number_is_offered_corrected_and_nothing_is_checked_before(chat: Chat, sessions,
                                                                                      clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "20000123", issued))
    await chat.command("start")
    text = await chat.say(f"代码 {code} 号码 2000O123 日期 {issued} 校验码 567890")
    assert "是 <code>20000123</code> 吗？" in text and "“2000O123”" in text
    assert "3 位" not in text and "不含税金额" not in text and chat.buttons[:2] == ["yes", "no"]
    assert await diagnoses(sessions) == []  # nothing looked up with a value not yet confirmed
    assert "找到了，信息一致" in await chat.press("yes")
    _, data = await conversation(sessions)
    assert data["fields"]["number"] == "20000123" and "amount" not in data["fields"]


async def test_no_to_the_corrected_value_asks_for_the_field_again(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say("号码 2000O123")
    text = await chat.press("no")
    assert "没有采用" in text and "请发送<b>发票号码</b>" in text
    _, data = await conversation(sessions)
    assert data["fields"] == {} and "questions" not in data


@pytest.mark.parametrize(("typed", "field", "value"), [
    ("日期 {y}-0{m}-1O", "date", "{y}-0{m}-10"),
    ("校验码 56789O", "check_code", "567890"),
])
async def test_a_letter_in_a_date_or_check_code(chat: Chat, sessions, clock, merchant, typed: str, field: str,
                                                value: str) -> None:
    issued = clock.today.replace(day=10) - timedelta(days=31)
    issued = issued.replace(day=10)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    fields = {"date": f"日期 {issued}", "check_code": "校验码 567890"}
    fields[field] = typed.format(y=issued.year, m=issued.month)
    await chat.command("start")
    text = await chat.say(f"代码 {code} 号码 12345678 " + " ".join(fields.values()))
    expected = value.format(y=issued.year, m=issued.month)
    assert f"<code>{expected}</code> 吗？" in text and "不含税金额" not in text and "2025.00" not in text
    assert "找到了，信息一致" in await chat.press("yes")


async def test_a_letter_in_an_amount_is_not_cut_and_looked_up(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = f"1100{issued.year % 100:02d}2130"  # a special invoice: the amount is compared
    await add_invoices(sessions, clock.now, invoice(code, "00112233", issued, kind="special"))
    await chat.command("start")
    text = await chat.say(f"代码 {code} 号码 00112233 日期 {issued} 金额 1O00.00")
    assert "<code>1000.00</code> 吗？" in text and await diagnoses(sessions) == []
    assert "找到了，信息一致" in await chat.press("yes")


async def test_a_letter_that_fixes_nothing_gives_no_field(chat: Chat, sessions, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    text = await chat.say("号码 2000X1234")
    assert "8 位" in text and "不含税金额" not in text and "已收到" not in text
    _, data = await conversation(sessions)
    assert data["fields"] == {}


async def test_english_letters_for_digits(chat: Chat, sessions, clock) -> None:
    await add_user(sessions, clock.now, language="en")
    chat.language = "en"
    await chat.command("start")
    await chat.press("find")
    text = await chat.say("number 2000O123")
    assert "Do you mean <code>20000123</code>?" in text and chat.buttons[:2] == ["yes", "no"]


# -- dates as people say them ------------------------------------------------------------------------------
async def test_the_third_is_asked_about_not_taken_as_an_amount(chat: Chat, sessions, clock, merchant) -> None:
    code = code12(clock.today)
    await chat.command("start")
    text = await chat.say(f"代码 {code} 号码 12345678 3号开的")
    assert "“3号”是指开票日期 <code>2026-06-03</code> 吗？" in text and "金额" not in text
    text = await chat.press("yes")
    assert "开票日期 <code>2026-06-03</code>" in text and "校验码后 6 位" in text
    _, data = await conversation(sessions)
    assert data["fields"] == {"code": code, "number": "12345678", "date": "2026-06-03"}


async def test_a_bare_number_for_the_date_is_asked_about(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678")
    text = await chat.say("3")
    assert "“3”是指开票日期 <code>2026-06-03</code> 吗？" in text


@pytest.mark.parametrize(("year", "typed", "expected"), [(26, "6月1日", "2026-06-01"), (25, "6月1号", "2025-06-01"),
                                                         (25, "六月一日", "2025-06-01")])
async def test_a_date_without_a_year_takes_the_code_s_year_and_says_so(chat: Chat, sessions, clock, merchant,
                                                                       year: int, typed: str, expected: str) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 01100{year}10011 号码 12345678")
    text = await chat.say(typed)
    assert f"开票日期 <code>{expected}</code>（年份取自发票代码）" in text
    _, data = await conversation(sessions)
    assert data["fields"]["date"] == expected and data["inferred"] == {"date": "year_from_code"}


async def test_a_date_without_a_year_is_asked_when_no_code_says_it(chat: Chat, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    text = await chat.say("号码 12345678 日期 6月1日")
    assert "没有年份，是指 <code>2026-06-01</code> 吗？" in text


async def test_the_code_s_year_giving_a_future_date_is_asked(chat: Chat, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say("代码 011002610011 号码 12345678")
    text = await chat.say("12月1日")  # 2026-12-01 is after today (2026-06-15)
    assert "没有年份，是指 <code>2025-12-01</code> 吗？" in text


@pytest.mark.parametrize(("typed", "expected", "said"), [
    ("昨天开的", "2026-06-14", "（按您说的日子推算）"),
    ("这个月3号", "2026-06-03", "（按您说的日子推算）"),
    ("上个月5号", "2026-05-05", "（按您说的日子推算）"),
    ("前天", "2026-06-13", "（按您说的日子推算）"),
    ("大前天开的", "2026-06-12", "（按您说的日子推算）"),
    ("6.1", "2026-06-01", "（年份取自发票代码）"),  # dotted, where the date is asked
    ("2026.6.1", "2026-06-01", ""),
    ("2026/6/1", "2026-06-01", ""),
    ("二〇二六年六月一日", "2026-06-01", ""),
    ("June 3, 2026", "2026-06-03", ""),
])
async def test_dates_as_people_say_them(chat: Chat, sessions, clock, merchant, typed: str, expected: str,
                                       said: str) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678")
    text = await chat.say(typed)
    assert f"开票日期 <code>{expected}</code>{said}" in text and "金额" not in text.split("\n")[0]
    _, data = await conversation(sessions)
    assert data["fields"]["date"] == expected and "amount" not in data["fields"]


async def test_a_two_digit_year_is_asked(chat: Chat, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678")
    text = await chat.say("26/6/1")
    assert "“26/6/1”是指 <code>2026-06-01</code> 吗？" in text


async def test_day_and_month_that_can_be_swapped_are_chosen(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678")
    text = await chat.say("3/6/2026")
    assert "可以读成两个日期" in text and "A. <code>2026-03-06</code>" in text and "B. <code>2026-06-03</code>" in text
    assert chat.buttons[:2] == ["pick.a", "pick.b"]
    await chat.press("pick.b")
    _, data = await conversation(sessions)
    assert data["fields"]["date"] == "2026-06-03"


async def test_a_date_in_english_words_never_becomes_an_amount(chat: Chat, sessions, clock) -> None:
    await add_user(sessions, clock.now, language="en")
    chat.language = "en"
    await chat.command("start")
    await chat.press("find")
    text = await chat.say(f"code {code12(clock.today)} number 12345678 issued June 3, 2026")
    assert "issue date <code>2026-06-03</code>" in text and "amount" not in text.split("\n")[0]


# -- amounts as people write them -------------------------------------------------------------------------
@pytest.mark.parametrize(("typed", "expected"), [("伍佰捌拾元整", "580.00"), ("叁万元整", "30000.00"),
                                                 ("1130块", "1130.00"), ("5块5毛", "5.50"), ("¥1,130.00", "1130.00"),
                                                 ("两千", "2000.00"), ("三百五十", "350.00")])
async def test_amounts_as_merchants_write_them(chat: Chat, sessions, clock, merchant, typed: str,
                                               expected: str) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 1100{clock.today.year % 100:02d}2130 号码 00112233 日期 {clock.today - timedelta(days=3)}")
    text = await chat.say(typed)
    assert f"不含税金额 <code>{expected}</code>" in text


async def test_words_and_figures_that_disagree_are_asked(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 1100{clock.today.year % 100:02d}2130 号码 00112233 日期 {clock.today - timedelta(days=3)}")
    text = await chat.say("金额 580 伍佰伍拾元整")
    assert "大写和小写金额不一致" in text and "A. ¥580.00" in text and "B. ¥550.00" in text
    await chat.press("pick.b")
    _, data = await conversation(sessions)
    assert data["fields"]["amount"] == "550.00"


async def test_unlabelled_numbers_never_become_money_for_an_ordinary_invoice(chat: Chat, sessions, clock,
                                                                             merchant) -> None:
    await chat.command("start")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678 日期 {clock.today} 1130 ¥1130")
    _, data = await conversation(sessions)
    assert "amount" not in data["fields"] and "total" not in data["fields"]


async def test_full_width_spaced_digits_are_an_identifier_not_money(chat: Chat, sessions, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say("１２３４ ５６７８")
    _, data = await conversation(sessions)
    assert data["fields"] == {"number": "12345678"}


# -- the near match first -------------------------------------------------------------------------------------
async def test_a_typo_in_the_region_digits_offers_the_near_match_before_blaming_the_region(
        chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    mine = code12(issued)
    typo = "0" + "1300" + mine[5:]  # 1100 (北京) typed as 1300 (河北)
    await add_invoices(sessions, clock.now, invoice(mine, "12345678", issued))
    await chat.command("start")
    text = await chat.say(f"代码 {typo} 号码 12345678 日期 {issued} 校验码 567890")
    assert "非常接近" in text and "河北" not in text and chat.buttons[:2] == ["yes", "no"]
    text = await chat.press("no")
    assert "河北" in text  # only "no" goes on to the region
    assert await diagnoses(sessions) == ["near_match", "other_region"]


async def test_a_typo_of_yesterday_s_invoice_is_offered_before_waiting_a_day(chat: Chat, sessions, clock,
                                                                               merchant) -> None:
    issued = clock.today - timedelta(days=1)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    text = await chat.say(f"代码 {code} 号码 12345687 日期 {issued} 校验码 567890")
    assert "非常接近" in text and "最少需要一天" not in text
    assert "找到了" in await chat.press("yes")


async def test_no_near_match_then_the_sync_delay(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=1)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    await chat.say(f"代码 {code} 号码 12345687 日期 {issued} 校验码 567890")
    text = await chat.press("no")
    assert "最少需要一天" in text and "later" in chat.buttons


# -- after the review: corrections, typed answers, rows of figures ------------------------------------------
async def test_a_corrected_date_after_a_mismatch_checks_again_with_the_same_invoice(chat: Chat, sessions, clock,
                                                                                  merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    text = await chat.say(f"代码 {code} 号码 12345678 日期 {issued - timedelta(days=1)} 校验码 567890")
    assert "不一致" in text
    text = await chat.say(f"日期应该是 {issued}，再查一下")
    assert "找到了，信息一致" in text
    assert await diagnoses(sessions) == ["mismatch", "found"]


@pytest.mark.parametrize(("typed", "expected"), [("对", "找到了"), ("不是这张", "最少需要一天")])
async def test_yes_or_no_typed_instead_of_pressed(chat: Chat, sessions, clock, merchant, typed: str,
                                                  expected: str) -> None:
    issued = clock.today - timedelta(days=1)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.command("start")
    await chat.say(f"代码 {code} 号码 12345687 日期 {issued} 校验码 567890")
    assert expected in await chat.say(typed)


async def test_a_typed_yes_to_a_corrected_value(chat: Chat, sessions, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say("号码 2000O123")
    text = await chat.say("是的")
    assert "已收到：发票号码 <code>20000123</code>" in text


async def test_no_to_a_day_keeps_the_date_given_before(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678 日期 2026-06-01")
    await chat.say("3号开的")
    await chat.press("no")
    _, data = await conversation(sessions)
    assert data["fields"]["date"] == "2026-06-01"


@pytest.mark.parametrize("typed", ["1 130", "3千5", "5千"])
async def test_figures_that_do_not_say_one_amount_are_never_taken(chat: Chat, sessions, clock, merchant,
                                                                 typed: str) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 1100{clock.today.year % 100:02d}2130 号码 00112233 日期 {clock.today - timedelta(days=3)}")
    await chat.say(typed)
    _, data = await conversation(sessions)
    assert "amount" not in data["fields"] and "total" not in data["fields"]
    assert await diagnoses(sessions) == []


async def test_an_amount_for_an_ordinary_invoice_is_not_taken_as_its_amount(chat: Chat, sessions, clock,
                                                                           merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678 日期 {clock.today}")
    text = await chat.say("1130.00")
    _, data = await conversation(sessions)
    assert "amount" not in data["fields"] and "不含税金额" not in text


async def test_a_plain_field_gets_no_unasked_article(chat: Chat, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 {code12(clock.today)} 号码 12345678")
    text = await chat.say(f"日期 {clock.today - timedelta(days=3)}")
    assert "最常见的原因" not in text and "新开的发票" not in text and "校验码后 6 位" in text


async def test_a_currency_word_against_a_figure_with_letters(chat: Chat, sessions, clock, merchant) -> None:
    await chat.command("start")
    await chat.press("find")
    await chat.say(f"代码 1100{clock.today.year % 100:02d}2130 号码 00112233 日期 {clock.today - timedelta(days=3)}")
    text = await chat.say("金额 RMB5OOO")
    assert "<code>5000.00</code> 吗？" in text and await diagnoses(sessions) == []
