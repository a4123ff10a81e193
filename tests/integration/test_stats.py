"""`/stats` and `bot.py stats`: satisfaction (ratings) and response times, in total and per staff member."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from typer.testing import CliRunner

from assistant import charts
from assistant.core import utcnow
from assistant.messages import ButtonPress, Command, OutputDelivered, Text
from assistant.outputs import Copy, RatingsChart
from assistant.store.uow import UnitOfWork
from tests.conftest import Chat, joined, replies_of
from tests.factories import add_user
from tests.integration.test_support import STAFF, Staff, open_ticket

ADMIN = 900


@pytest.fixture
async def people(sessions, clock) -> None:
    await add_user(sessions, clock.now)  # merchant 1000
    async with sessions() as session, session.begin():
        await UnitOfWork(session).users.save(STAFF, role="staff", language="zh", companies=[], now=clock.now,
                                             name="李娜", alias="客服小李")


async def served_and_rated(chat: Chat, assistant, clock) -> None:
    """One ticket: claimed, first answered 4 minutes after it opened, closed after an hour, rated 4 stars."""
    ticket_id = await open_ticket(chat, assistant, clock)
    staff = Staff(assistant)
    clock.advance(minutes=2)
    await staff.send(77, ButtonPress, choice=f"claim.{ticket_id}", version=0)
    clock.advance(minutes=2)
    [copy] = [o for o in await staff.send(77, Text, text="收到，我们核实一下") if isinstance(o, Copy)]
    await assistant.take([OutputDelivered(copy, message_ids=(51,))])
    clock.advance(minutes=56)
    await staff.command(77, "close", "开票方已补传")
    assert "4 星" in joined(replies_of(await chat.send(ButtonPress, choice=f"rate.{ticket_id}.4", version=0)))


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_stats_show_ratings_and_response_times_per_period_and_staff_member(
        chat: Chat, assistant, sessions, clock, people, language) -> None:
    await add_user(sessions, clock.now, user_id=ADMIN, role="admin", companies=(), language=language)
    await served_and_rated(chat, assistant, clock)
    await chat.command("human")  # a second ticket, nobody answered it yet: counted, not in the medians

    async def stats() -> str:
        return joined(replies_of(await assistant.handle(Command(user_id=ADMIN, chat_id=ADMIN, name="stats",
                                                                language=language))))

    text = await stats()
    if language == "zh":
        total = "满意度 4.0 分（1 个评价：4 星 1）；首次回复中位数 4.0 分钟；解决用时中位数 60.0 分钟"
        member = "· 客服小李：工单 1，满意度 4.0 分（1 个评价：4 星 1），首次回复 4.0 分钟，解决 60.0 分钟"
        periods = ("<b>今天</b>", "<b>最近 7 天</b>", "<b>最近 30 天</b>")
    else:
        total = "Satisfaction 4.0/5 (1 rated: 4★ 1); median first reply 4.0 min; median resolution 60.0 min"
        member = "· 客服小李: 1 tickets, satisfaction 4.0/5 (1 rated: 4★ 1), first reply 4.0 min, resolution 60.0 min"
        periods = ("<b>Today</b>", "<b>Last 7 days</b>", "<b>Last 30 days</b>")
    assert text.count(total) == 3 and text.count(member) == 3, text
    assert all(period in text for period in periods)
    # two days later the ticket is no longer today's, still the week's and the month's
    clock.advance(days=2)
    text = await stats()
    today = text.split(periods[0])[1].split(periods[1])[0]
    assert total not in today and member not in today and ("工单新开 0" in today or "tickets opened 0" in today)
    assert text.count(total) == 2 and text.count(member) == 2


def test_bot_py_stats_prints_the_same_figures_in_the_admins_language(tmp_path, monkeypatch) -> None:
    import bot

    url = f"sqlite+aiosqlite:///{tmp_path}/stats.sqlite3"
    monkeypatch.setenv("DATABASE_URL", url)
    runner = CliRunner()
    assert runner.invoke(bot.app, ["users", "add", str(STAFF), "--role", "staff", "--alias", "客服小李"]).exit_code == 0

    async def seed() -> None:
        engine = create_async_engine(url)
        now = utcnow()
        try:
            async with async_sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
                store = UnitOfWork(session)
                for rating, reply_after, close_after in ((5, 3, 30), (3, 7, 90)):
                    ticket = await store.tickets.add(user_id=1, chat_id=1, reason="human", language="zh", fields={},
                                                     checks=[], now=now)
                    await store.tickets.add_relayed(ticket_id=ticket.id, source_chat_id=-100, pairs=[(111, 11)],
                                                    copy_chat_id=1, now=now + timedelta(minutes=reply_after))
                    ticket.assignee_id, ticket.state, ticket.rating = STAFF, "closed", rating
                    ticket.closed_at = now + timedelta(minutes=close_after)
        finally:
            await engine.dispose()

    asyncio.run(seed())
    for language, words in (("zh", ("最近 30 天", "全部", "客服小李", "4.0 · 2 个 · 5★1 3★1", "60.0")),
                            ("en", ("last 30 days", "everyone", "客服小李", "4.0 · 2 · 5★1 3★1", "60.0"))):
        result = runner.invoke(bot.app, ["stats"], env={"COLUMNS": "250", "DEFAULT_LANGUAGE": language})
        assert result.exit_code == 0, result.output
        for word in words:
            assert word in result.output, (word, result.output)
        assert "5.0" in result.output  # the median first reply: (3 + 7) / 2 minutes
    chart = tmp_path / "ratings.png"
    result = runner.invoke(bot.app, ["stats", "--chart", str(chart)], env={"COLUMNS": "250", "DEFAULT_LANGUAGE": "en"})
    assert result.exit_code == 0 and str(chart) in result.output.replace("\n", ""), result.output
    with Image.open(chart) as picture:
        assert picture.format == "PNG" and picture.width == charts.WIDTH


def test_bot_py_stats_draws_no_chart_before_anyone_rated(tmp_path, monkeypatch) -> None:
    import bot

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/stats.sqlite3")
    chart = tmp_path / "ratings.png"
    result = CliRunner().invoke(bot.app, ["stats", "--chart", str(chart)], env={"DEFAULT_LANGUAGE": "zh"})
    assert result.exit_code == 0 and "最近 30 天没有评价，未生成图表" in result.output, result.output
    assert not chart.exists()


async def test_stats_draw_the_ratings_once_someone_rated(chat: Chat, assistant, sessions, clock, people) -> None:
    await add_user(sessions, clock.now, user_id=ADMIN, role="admin", companies=(), language="zh")

    async def charts_of_stats() -> list[RatingsChart]:
        outputs = await assistant.handle(Command(user_id=ADMIN, chat_id=ADMIN, name="stats", language="zh"))
        return [output for output in outputs if isinstance(output, RatingsChart)]

    assert await charts_of_stats() == []  # nothing to draw: the figures say it
    await served_and_rated(chat, assistant, clock)
    [chart] = await charts_of_stats()
    assert chart.chat_id == ADMIN and chart.values == ((0, 0, 0, 1, 0),) * 3
    assert (chart.title, chart.rows) == ("满意度分布", ("今天", "最近 7 天", "最近 30 天"))
    assert chart.notes == ("平均 4.0 分，1 个评价",) * 3 and chart.latin_notes == ("average 4.0/5, 1 rated",) * 3
    assert chart.caption.startswith("<b>满意度分布</b>") and chart.outbox_id is not None  # stored, sent after commit
    clock.advance(days=2)
    [chart] = await charts_of_stats()
    assert chart.values == ((0, 0, 0, 0, 0), (0, 0, 0, 1, 0), (0, 0, 0, 1, 0)) and chart.notes[0] == "暂无评价"
