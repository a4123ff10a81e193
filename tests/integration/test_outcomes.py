"""A scenario per outcome of the decision tree: what the merchant reads and what is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.store.models import AccessRequest, Diagnosis, FollowUp
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat, FakeClock
from tests.stored import rows
from tests.factories import MINE, STRANGER, SUPPLIER, add_invoices, add_user, code12, invoice


@pytest.fixture
async def merchant(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> None:
    await add_user(sessions, clock.now)


async def diagnoses(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return [d.outcome for d in await rows(session, Diagnosis)]


async def state_of(sessions: async_sessionmaker[AsyncSession], chat_id: int = 1000) -> tuple[str, dict]:
    async with sessions() as session:
        row = await UnitOfWork(session).conversations.get(chat_id, chat_id, initial="menu", now=FakeClock().now)
        return row[0].state, row[0].data


async def test_found_everything_matches(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    text = await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    assert "找到了，信息一致" in text
    assert "北京朝阳办公用品有限公司" in text and "¥1,130.00" in text
    assert chat.buttons == ["find", "human", "menu"]
    assert await diagnoses(sessions) == ["found"]
    assert (await state_of(sessions))[0] == "found"


async def test_special_invoice_mismatch_explains_total_typed_as_amount(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=10)
    code = f"1100{issued.year % 100:02d}2130"
    await add_invoices(sessions, clock.now, invoice(code, "00112233", issued, "5000.00", kind="special"))
    text = await chat.say(f"发票代码:{code} 发票号码:00112233 开票日期:{issued} 金额:5650")
    assert "不一致" in text
    assert "不含税金额" in text and "价税合计" in text  # names the mix-up
    assert await diagnoses(sessions) == ["mismatch"]


async def test_date_mismatch(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=10)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    text = await chat.say(f"代码 {code} 号码 12345678 日期 {issued - timedelta(days=1)} 校验码 567890")
    assert "不一致" in text and "开票日期" in text and str(issued - timedelta(days=1)) in text


@pytest.mark.parametrize(("status", "words"), [
    ("voided", ["作废", "重新开具"]),
    ("red_reversed", ["红冲", "联系开票方"]),
    ("out_of_control", ["失控", "12366"]),
    ("abnormal", ["异常", "12366"]),
])
async def test_bad_status_names_the_seller_and_what_to_do(chat: Chat, sessions, clock, merchant, status,
                                                          words) -> None:
    issued = clock.today - timedelta(days=10)
    code = code12(issued, kind="04")
    await add_invoices(sessions, clock.now, invoice(code, "22334455", issued, status=status,
                                                    seller_name="北京某某商贸有限公司"))
    text = await chat.say(f"代码 {code} 号码 22334455 日期 {issued} 校验码 567890")
    for word in words:
        assert word in text
    assert "北京某某商贸有限公司" in text
    assert await diagnoses(sessions) == ["bad_status"]


async def test_no_permission_reveals_nothing_and_stores_access_request(chat: Chat, sessions, clock,
                                                                       merchant) -> None:
    issued = clock.today - timedelta(days=10)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "44556677", issued, seller=SUPPLIER, buyer=STRANGER,
                                                    status="voided", seller_name="保密的销售方"))
    text = await chat.say(f"代码 {code} 号码 44556677 日期 {issued} 校验码 567890")
    assert "没有查看权限" in text
    for secret in ("保密的销售方", "作废", "1130", STRANGER, SUPPLIER):
        assert secret not in text
    confirmation = await chat.press("access")
    assert "已提交查看权限申请" in confirmation
    again = await chat.say(f"代码 {code} 号码 44556677 日期 {issued} 校验码 567890")
    assert "没有查看权限" in again
    assert "已经申请过" in await chat.press("access")
    async with sessions() as session:
        requests = await rows(session, AccessRequest)
    assert [(r.user_id, r.state) for r in requests] == [(1000, "pending")]


async def test_staff_may_view_any_invoice(chat: Chat, sessions, clock) -> None:
    await add_user(sessions, clock.now, role="staff", companies=())
    issued = clock.today - timedelta(days=10)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "44556677", issued, buyer=STRANGER))
    assert "找到了" in await chat.say(f"代码 {code} 号码 44556677 日期 {issued} 校验码 567890")


async def test_pending_sync_offers_check_later_and_stores_it(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=1)
    number = f"{issued.year % 100:02d}112000000087654321"
    await add_invoices(sessions, clock.now, invoice("", number, issued, "2000.00", kind="digital",
                                                    uploaded_at=clock.now - timedelta(hours=2)))
    text = await chat.say(f"号码 {number} 日期 {issued} 价税合计 2260")
    assert "尚未完成同步" in text
    expected = (clock.now + timedelta(hours=22)).astimezone(clock.now.tzinfo)
    assert "later" in chat.buttons
    assert "我会在" in await chat.press("later")
    assert "已经为您登记过" in await chat.press_old("later", chat.history[-1].version)
    async with sessions() as session:
        follow_ups = await rows(session, FollowUp)
    assert [(f.kind, f.fields["number"], f.due_at) for f in follow_ups] == [("recheck", number, expected)]


async def test_issued_today_explains_sync_delay(chat: Chat, sessions, clock, merchant) -> None:
    code = code12(clock.today)
    text = await chat.say(f"代码 {code} 号码 55667788 日期 {clock.today} 校验码 123456")
    assert "最少需要一天" in text
    day = clock.today + timedelta(days=2)
    assert f"{day.month}月{day.day}日 00:00" in text  # end of issue day + 24 h
    assert await diagnoses(sessions) == ["too_recent"]
    await chat.press("later")
    async with sessions() as session:
        assert [f.kind for f in await rows(session, FollowUp)] == ["recheck"]


async def test_non_beijing_code_names_the_region(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=10)
    code = code12(issued, region="3100")
    text = await chat.say(f"代码 {code} 号码 66778899 日期 {issued} 校验码 123456")
    assert "上海" in text and "只收录北京" in text
    assert "全国增值税发票查验平台" in text and "上海税务局" not in text  # one platform covers every region
    assert await diagnoses(sessions) == ["other_region"]


async def test_non_beijing_digital_number(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=10)
    text = await chat.say(f"号码 {issued.year % 100:02d}442000000011112222 日期 {issued} 价税合计 100")
    assert "广东" in text


async def test_near_match_yes_continues_with_that_invoice(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    text = await chat.say(f"代码 {code} 号码 12345687 日期 {issued} 校验码 567890")
    assert "非常接近" in text and "<b>8</b><b>7</b>" not in text and "<b>7</b><b>8</b>" in text
    assert "找到了，信息一致" in await chat.press("yes")
    _, data = await state_of(sessions)
    assert data["fields"]["number"] == "12345678"


async def test_near_match_only_among_invoices_the_user_may_view(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued, buyer=STRANGER))
    text = await chat.say(f"代码 {code} 号码 12345687 日期 {issued} 校验码 567890")
    assert "非常接近" not in text and "工单" in text


async def test_near_match_no_opens_ticket(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.say(f"代码 {code} 号码 12345670 日期 {issued} 校验码 567890")
    text = await chat.press("no")
    assert "工单 <b>#" in text
    assert "不是刚才那张" in text and "也没有相近的发票" not in text  # it just showed one


async def test_not_found_opens_ticket_with_everything_collected(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued, batch="500")
    text = await chat.say(f"代码 {code} 号码 77889900 日期 {issued} 校验码 123456")
    async with sessions() as session:
        tickets = await UnitOfWork(session).tickets.all()
    assert len(tickets) == 1
    ticket = tickets[0]
    assert f"#{ticket.id}" in text and "没有找到这张发票" in text and "请开票方确认" in text  # and what to do
    assert "🔎 按此查询" in text and "<code>77889900</code>" in text  # what the checks were made with
    assert ticket.reason == "not_found" and ticket.state == "open" and ticket.language == "zh"
    assert ticket.fields == {"code": code, "number": "77889900", "date": issued.isoformat(), "check_code": "123456"}
    assert [c["check"] for c in ticket.checks] == ["input", "maintenance", "lookup", "near_match", "region",
                                                   "sync_delay"]
    assert [c["result"] for c in ticket.checks][1:] == ["none", "not_found", "none", "beijing", "past"]
    assert await diagnoses(sessions) == ["not_found"]


async def test_maintenance_stops_the_lookup_and_offers_notify(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    async with sessions() as session, session.begin():
        await UnitOfWork(session).maintenance.add(starts_at=clock.now - timedelta(minutes=5),
                                             ends_at=clock.now + timedelta(hours=8), message_zh="金税系统升级",
                                             message_en="Tax system upgrade", now=clock.now)
    text = await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    assert "系统正在维护" in text and "金税系统升级" in text and "今天 18:00" in text
    assert "找到了" not in text
    assert "维护结束后" in await chat.press("notify")
    async with sessions() as session:
        follow_ups = await rows(session, FollowUp)
    assert [(f.kind, f.fields["number"]) for f in follow_ups] == [("maintenance_over", "12345678")]
    assert await diagnoses(sessions) == ["maintenance"]
    # once it ends, the same lookup goes through
    async with sessions() as session, session.begin():
        await UnitOfWork(session).maintenance.end(clock.now)
    assert "找到了" in await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")


async def test_outcomes_in_english(chat: Chat, sessions, clock) -> None:
    await add_user(sessions, clock.now, language="en")
    chat.language = "en"
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued, status="voided"))
    text = await chat.say(f"code {code} number 12345678 date {issued} check code 567890")
    assert "voided" in text and "ask the issuer for a new invoice" in text
    text = await chat.say(f"code {code} number 77889900 date {issued} check code 567890")
    assert "support ticket <b>#" in text


@pytest.mark.parametrize("status", ["voided", "red_reversed", "out_of_control", "abnormal"])
async def test_the_merchants_own_invoice_is_explained_to_its_issuer(chat: Chat, sessions, clock, merchant,
                                                                    status) -> None:
    issued = clock.today - timedelta(days=10)
    code = code12(issued, kind="04")
    await add_invoices(sessions, clock.now, invoice(code, "22334455", issued, status=status, seller=MINE,
                                                    buyer=SUPPLIER, seller_name="北京星河商贸有限公司"))
    text = await chat.say(f"代码 {code} 号码 22334455 日期 {issued} 校验码 567890")
    assert "贵公司开具" in text
    assert "联系开票方" not in text  # the merchant is the issuer: not told to contact themselves


async def test_status_after_a_maintenance_answer_does_not_repeat_it(chat: Chat, sessions, clock, merchant) -> None:
    from assistant.store.uow import UnitOfWork

    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    async with sessions() as session, session.begin():
        await UnitOfWork(session).maintenance.add(starts_at=clock.now - timedelta(minutes=5),
                                                  ends_at=clock.now + timedelta(hours=8), message_zh="金税系统升级",
                                                  message_en="", now=clock.now)
    assert "系统正在维护" in await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    async with sessions() as session, session.begin():
        await UnitOfWork(session).maintenance.end(clock.now)
    text = await chat.command("status")
    assert "系统正在维护" not in text and "notify" not in chat.buttons  # not the stale answer again
    assert "find" in chat.buttons


async def test_a_date_typed_with_its_time_finds_the_invoice_without_a_false_mismatch(chat: Chat, sessions, clock,
                                                                                   merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    text = await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 10:23:45 校验码 567890")
    assert "找到了，信息一致" in text and "无法判断" not in text and "不一致" not in text
    assert await diagnoses(sessions) == ["found"]


async def test_a_check_code_the_record_lacks_is_not_called_consistent(chat: Chat, sessions, clock, merchant) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued, check_code=""))
    text = await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 999999")
    assert "无法核对" in text and "找到了，信息一致" not in text
