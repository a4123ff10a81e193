"""Announcements: the admin flow, who receives them, rate-limited sending, and resuming after a crash."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from assistant.broadcast import BroadcastRunner, Delivery
from assistant.messages import OutputDelivered
from assistant.outputs import Out, Progress, Reply
from assistant.store.uow import UnitOfWork, sql_units
from assistant.store.models import Broadcast
from tests.conftest import Chat
from tests.stored import rows
from tests.factories import add_user

ADMIN = 900


@dataclass
class RecordingTransport:
    """Delivers into lists; some chats blocked the bot, some answer 429 once."""

    blocked: set[int] = field(default_factory=set)
    busy_once: set[int] = field(default_factory=set)
    delivered: list[tuple[int, str]] = field(default_factory=list)
    posts: list[tuple[int, str]] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)
    crash_after: int | None = None
    offline: bool = False
    refuse: str | None = None
    """Telegram's refusal of the message itself, after the first delivery."""
    core: Any = None

    async def deliver(self, chat_id: int, text: str) -> Delivery:
        if self.refuse is not None and self.delivered:
            return Delivery("refused", reason=self.refuse)
        if chat_id in self.blocked:
            return Delivery("blocked")
        if chat_id in self.busy_once:
            self.busy_once.discard(chat_id)
            return Delivery("retry", 0.01)
        self.delivered.append((chat_id, text))
        if self.crash_after is not None and len(self.delivered) >= self.crash_after:
            self.crash_after = None
            raise KeyboardInterrupt("the process died right after Telegram accepted the message")
        return Delivery("sent")

    async def execute(self, outputs: list[Out]) -> None:
        """What the admin sees, carried out as the Telegram adapter does: results reported to the core."""
        if self.offline:
            raise ConnectionError("the Bot API cannot be reached")
        results = []
        for output in outputs:
            if isinstance(output, Progress) and output.message_id is None:
                self.posts.append((output.chat_id, output.text))
                results.append(OutputDelivered(output, message_ids=(4242,)))
            elif isinstance(output, Progress):
                self.edits.append((output.chat_id, output.message_id, output.text))
                results.append(OutputDelivered(output))
            elif isinstance(output, Reply):
                self.posts.append((output.chat_id, output.text))
                results.append(OutputDelivered(output))
        await self.core.take(results)


@pytest.fixture
async def audience(assistant, sessions, clock) -> list[int]:
    """Twelve merchants who used the assistant this week, one long ago, staff and an admin."""
    merchants = list(range(2001, 2013))
    for user_id in merchants:
        await add_user(sessions, clock.now, user_id=user_id)
        await Chat(assistant, user_id, user_id).command("start")
    await add_user(sessions, clock.now, user_id=2100)
    clock.advance(days=-60)
    await Chat(assistant, 2100, 2100).command("start")  # active 60 days ago: not recent
    clock.advance(days=60)
    await add_user(sessions, clock.now, user_id=2200, role="staff", companies=())
    await Chat(assistant, 2200, 2200).command("start")
    await add_user(sessions, clock.now, user_id=ADMIN, role="admin", companies=())
    return merchants


async def announce(admin: Chat, audience_choice: str, text: str) -> str:
    await admin.command("announce")
    await admin.press(audience_choice)
    preview = await admin.say(text)
    return preview + "\n" + await admin.press("confirm")


def runner(sessions, assistant, transport, clock) -> BroadcastRunner:
    transport.core = assistant
    return BroadcastRunner(sql_units(sessions), assistant.renderer, transport, transport.execute, rate=1000,
                           clock=clock, progress_every=0)


async def test_announce_to_recent_merchants(assistant, sessions, clock, audience) -> None:
    admin = Chat(assistant, ADMIN, ADMIN)
    text = await announce(admin, "recent", "<b>周六</b> 系统升级 & 暂停服务")
    assert "将发给 12 位" in text and "&lt;b&gt;周六&lt;/b&gt; 系统升级 &amp; 暂停服务" in text
    assert "群发 #" in text and "共 12 位收件人" in text
    transport = RecordingTransport(blocked={2003}, busy_once={2005})
    await runner(sessions, assistant, transport, clock).run_all()
    assert sorted(chat for chat, _ in transport.delivered) == [m for m in audience if m != 2003]
    assert all(text == "📢 &lt;b&gt;周六&lt;/b&gt; 系统升级 &amp; 暂停服务" for _, text in transport.delivered)
    assert transport.posts[0][0] == ADMIN and "已发送 0 / 12" in transport.posts[0][1]
    assert "送达 11，已屏蔽机器人 1，失败 0" in transport.posts[-1][1]
    assert any("已发送 11 / 12" in text for *_, text in transport.edits)
    async with sessions() as session:
        store = UnitOfWork(session)
        assert (await store.users.get(2003)).unreachable is True
        [broadcast] = await store.broadcasts.running() or [None]
    assert broadcast is None  # finished
    await runner(sessions, assistant, transport, clock).run_all()
    assert len(transport.delivered) == 11  # nothing sent twice


async def test_announce_to_subscribers_only(chat: Chat, assistant, sessions, clock, audience) -> None:
    subscriber = Chat(assistant, 2004, 2004)
    await subscriber.say(f"代码 01100{clock.today.year % 100:02d}40011 号码 55667788 日期 {clock.today} 校验码 123456")
    await subscriber.press("later")
    admin = Chat(assistant, ADMIN, ADMIN)
    assert "将发给 1 位" in await announce(admin, "subscribers", "维护结束了")
    transport = RecordingTransport()
    await runner(sessions, assistant, transport, clock).run_all()
    assert transport.delivered == [(2004, "📢 维护结束了")]


async def test_a_crash_mid_broadcast_resumes_without_duplicates(assistant, sessions, clock, audience) -> None:
    admin = Chat(assistant, ADMIN, ADMIN)
    await announce(admin, "recent", "通知")
    transport = RecordingTransport(crash_after=5)
    with pytest.raises(KeyboardInterrupt):
        await runner(sessions, assistant, transport, clock).run_all()
    assert len(transport.delivered) == 5
    await runner(sessions, assistant, transport, clock).run_all()  # the next process
    delivered = [chat for chat, _ in transport.delivered]
    assert sorted(delivered) == audience and len(set(delivered)) == len(delivered)
    assert "发送中断无法确认 1" in transport.posts[-1][1] and "送达 11" in transport.posts[-1][1]


async def test_cancel_and_refusal(chat: Chat, assistant, sessions, audience) -> None:
    assert "只有管理员" in await chat.command("announce")
    admin = Chat(assistant, ADMIN, ADMIN)
    await admin.command("announce")
    await admin.press("recent")
    assert "已取消" in await admin.press("cancel")
    async with sessions() as session:
        assert await UnitOfWork(session).broadcasts.running() == []


async def test_progress_goes_through_the_outbox_and_survives_a_dead_sender(assistant, sessions, clock,
                                                                           audience) -> None:
    admin = Chat(assistant, ADMIN, ADMIN)
    await announce(admin, "recent", "通知")
    transport = RecordingTransport(offline=True)  # the progress message cannot be posted for now
    await runner(sessions, assistant, transport, clock).run_all()
    assert len(transport.delivered) == 12 and transport.posts == []  # the broadcast itself went on
    transport.offline = False
    clock.advance(seconds=assistant.config.outbox_lease.total_seconds() + 1)
    await transport.execute(await assistant.due())  # whichever process looks next sends what the outbox holds
    assert transport.posts[0][0] == ADMIN and "已发送 0 / 12" in transport.posts[0][1]
    assert "送达 12" in transport.posts[-1][1]  # the summary
    async with sessions() as session:
        [broadcast] = await rows(session, Broadcast)
    assert broadcast.progress_message_id == 4242  # the id Telegram assigned, recorded by the core
    await transport.execute(await assistant.due())
    assert len(transport.posts) == 2  # each once



async def test_a_message_telegram_refuses_fails_the_broadcast_and_the_admin_is_told(assistant, sessions, clock,
                                                                                    audience) -> None:
    admin = Chat(assistant, ADMIN, ADMIN)
    await announce(admin, "recent", "周六系统升级")
    transport = RecordingTransport(refuse="Bad Request: message is too long")
    await runner(sessions, assistant, transport, clock).run_all()
    assert len(transport.delivered) == 1  # the first went out; the second was refused, and nothing more tried
    summary = transport.posts[-1][1]
    assert "群发 #" in summary and "失败" in summary and "message is too long" in summary
    assert "已送达 1，未发送 11" in summary and "完成" not in summary
    async with sessions() as session:
        [broadcast] = await rows(session, Broadcast)
        counts = await UnitOfWork(session).broadcasts.recipient_counts(broadcast.id)
    assert broadcast.state == "failed" and counts == {"sent": 1, "pending": 11}
    await runner(sessions, assistant, transport, clock).run_all()
    assert len(transport.delivered) == 1  # a failed broadcast is not resumed


@dataclass
class SlowTransport(RecordingTransport):
    """Each delivery takes a moment, so that two processes would overlap if both sent."""

    async def deliver(self, chat_id: int, text: str) -> Delivery:
        import asyncio

        await asyncio.sleep(0.01)
        return await super().deliver(chat_id, text)


async def test_one_process_sends_a_broadcast_at_a_time_so_the_rate_holds_across_processes(
        assistant, sessions, clock, audience) -> None:
    import asyncio

    admin = Chat(assistant, ADMIN, ADMIN)
    await announce(admin, "recent", "通知")
    first, second = SlowTransport(), SlowTransport()
    await asyncio.gather(runner(sessions, assistant, first, clock).run_all(),
                         runner(sessions, assistant, second, clock).run_all())
    sent = sorted(chat for chat, _ in first.delivered + second.delivered)
    assert sent == audience  # everyone once
    assert not first.delivered or not second.delivered  # by one process: its pace is the broadcast's pace


async def test_a_broadcast_held_by_a_dead_process_is_taken_up_once_its_hold_runs_out(assistant, sessions, clock,
                                                                                       audience) -> None:
    from datetime import timedelta

    admin = Chat(assistant, ADMIN, ADMIN)
    await announce(admin, "recent", "通知")
    async with sessions() as session, session.begin():
        store = UnitOfWork(session)
        [broadcast] = await store.broadcasts.running()
        assert await store.broadcasts.hold(broadcast.id, "killed-process", clock.now, clock.now + timedelta(seconds=60))
    transport = RecordingTransport()
    await runner(sessions, assistant, transport, clock).run_all()
    assert transport.delivered == []  # held: the dead process might still be sending
    clock.advance(seconds=61)
    await runner(sessions, assistant, transport, clock).run_all()
    assert sorted(chat for chat, _ in transport.delivered) == audience
