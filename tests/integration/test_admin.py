"""Admins in chat: the maintenance flow, ending and extending windows, statistics, and the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from typer.testing import CliRunner

from assistant.outputs import Reply
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat
from tests.factories import add_invoices, add_user, code12, invoice

ADMIN = 900


@pytest.fixture
async def people(sessions, clock) -> None:
    await add_user(sessions, clock.now)
    await add_user(sessions, clock.now, user_id=ADMIN, role="admin", companies=())


@pytest.fixture
def admin(assistant) -> Chat:
    return Chat(assistant, ADMIN, ADMIN)


async def audit(sessions) -> list[tuple[int | None, str, bool]]:
    async with sessions() as session:
        return [(e.actor_id, e.action, e.allowed) for e in reversed(await UnitOfWork(session).audit.entries())]


async def test_non_admins_are_refused_and_recorded(chat: Chat, sessions, people) -> None:
    for command in ("maintenance", "maintenance_end", "stats"):
        assert "只有管理员" in await chat.command(command)
    assert await audit(sessions) == [(1000, "maintenance", False), (1000, "maintenance_end", False),
                                     (1000, "stats", False)]
    async with sessions() as session:
        assert await UnitOfWork(session).maintenance.all() == []


async def test_the_maintenance_flow_publishes_a_window_merchants_see(admin: Chat, chat: Chat, sessions, clock,
                                                                    people) -> None:
    assert "什么时候开始" in await admin.command("maintenance")
    assert "无法识别时间" in await admin.say("下午")
    assert "预计什么时候结束" in await admin.press("now")
    assert "要晚于开始时间" in await admin.say("2026-06-15 09:00")  # before the start (bare 09:00 means tomorrow)
    text = await admin.say("+2h")
    assert "中文" in text and "今天 10:00 至今天 12:00" in text
    assert "不能为空" in await admin.say(" ")
    assert "英文" in await admin.say("金税系统升级，期间无法查验发票")
    preview = await admin.press("skip")
    assert "预览" in preview and preview.count("金税系统升级") == 2  # English users see the Chinese text
    text = await admin.press("confirm")
    assert "已发布" in text and "请选择您需要的服务" in text
    async with sessions() as session:
        [window] = await UnitOfWork(session).maintenance.all()
    assert (window.created_by, window.message_zh, window.message_en) == (ADMIN, "金税系统升级，期间无法查验发票", "")
    assert window.ends_at - window.starts_at == timedelta(hours=2)
    assert await audit(sessions) == [(ADMIN, "maintenance", True), (ADMIN, "maintenance_created", True)]
    issued = clock.today - timedelta(days=30)
    text = await chat.say(f"代码 {code12(issued)} 号码 12345678 日期 {issued} 校验码 567890")
    assert "系统正在维护" in text and "金税系统升级" in text


async def test_cancel_and_commands_leave_the_flow_without_publishing(admin: Chat, sessions, people) -> None:
    await admin.command("maintenance")
    await admin.press("now")
    text = await admin.press("cancel")
    assert "已取消" in text and "请选择" in text
    await admin.command("maintenance")
    assert "已取消" in await admin.command("start")
    assert "请选择" in await admin.say("你好")  # the assistant again
    async with sessions() as session:
        assert await UnitOfWork(session).maintenance.all() == []


async def test_end_extend_and_list(admin: Chat, chat: Chat, assistant, sessions, clock, people) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await admin.command("maintenance")
    await admin.press("now")
    await admin.say("+1h")
    await admin.say("升级")
    await admin.press("skip")
    await admin.press("confirm")
    await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    await chat.press("notify")
    assert "进行中" not in await admin.command("maintenance_list") and "系统正在维护" in await admin.command(
        "maintenance_list")
    assert "不是将来的时间" in await admin.command("maintenance_extend", "soon")
    assert "已延长至今天 13:00" in await admin.command("maintenance_extend", "13:00")
    clock.advance(hours=1, minutes=5)
    assert await assistant.due() == []  # the old end passed; the extended window is still running
    text = await admin.command("maintenance_end")
    assert "已结束 1 个" in text and "1 位等待通知" in text
    outputs = await assistant.due()
    assert "找到了" in "\n".join(o.text for o in outputs if isinstance(o, Reply))


async def test_stats(admin: Chat, chat: Chat, assistant, sessions, clock, people) -> None:
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await chat.say(f"代码 {code} 号码 12345678 日期 {issued} 校验码 567890")
    await chat.say(f"代码 {code} 号码 77889900 日期 {issued} 校验码 567890")  # not found: a ticket
    text = await admin.command("stats")
    assert "今天</b>：查询 2 次（找到 1，未找到 1）；工单新开 1、关闭 0；认领用时中位数 —" in text


def test_bot_py_audit_lists_who_did_what(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bot

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/audit.sqlite3")
    runner = CliRunner()
    assert runner.invoke(bot.app, ["maintenance", "start", "--until", "+1h", "--message-zh", "x"]).exit_code == 0
    assert runner.invoke(bot.app, ["maintenance", "end"]).exit_code == 0
    assert runner.invoke(bot.app, ["users", "add", "77", "--role", "staff"]).exit_code == 0
    result = runner.invoke(bot.app, ["audit"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for action in ("maintenance_created", "maintenance_end", "user_saved"):
        assert action in result.output
    assert "cli" in result.output
