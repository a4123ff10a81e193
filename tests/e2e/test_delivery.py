"""Updates are confirmed to Telegram once stored in the inbox: polling moves the offset, the webhook answers 200;
when they cannot be stored, polling holds the offset and the webhook answers 503."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from assistant.core import Assistant
from assistant.outputs import Unavailable
from assistant.runtime.inbox import Inbox
from assistant.settings import Settings
from tests.e2e.conftest import RunningBot
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import free_port

pytestmark = pytest.mark.e2e
GREETING = "发票查询助手"


def fail_first(monkeypatch: pytest.MonkeyPatch, chat_id: int, times: int) -> list[int]:
    """The database is away for the first `times` events of one chat; returns the update ids refused."""
    original = Assistant.handle
    refused: list[int] = []

    async def flaky(self: Assistant, event):  # type: ignore[no-untyped-def]
        if event.chat_id == chat_id and len(refused) < times:
            refused.append(event.update_id)
            raise Unavailable("connection refused")
        return await original(self, event)

    monkeypatch.setattr(Assistant, "handle", flaky)
    return refused


def refuse_storing(monkeypatch: pytest.MonkeyPatch, chat_id: int, times: int) -> list[int]:
    """The database is away when the first `times` deliveries of one chat are to be stored."""
    original = Inbox.receive
    refused: list[int] = []

    async def flaky(self: Inbox, updates):  # type: ignore[no-untyped-def]
        if any(u.chat_id == chat_id for u in updates) and len(refused) < times:
            refused.extend(u.update_id for u in updates if u.chat_id == chat_id)
            raise ConnectionRefusedError("connection refused")
        return await original(self, updates)

    monkeypatch.setattr(Inbox, "receive", flaky)
    return refused


async def test_polling_confirms_an_update_once_stored_and_handles_it_later(api: FakeBotAPI, bot_settings: Settings,
                                                                           clock, sessions, monkeypatch) -> None:
    refused = fail_first(monkeypatch, 1001, times=2)
    bot = RunningBot(bot_settings, clock)
    await bot.start()
    try:
        waiting, other = Merchant(api, 1001), Merchant(api, 1002)
        first = await waiting.send("/start")
        await api.wait_for(lambda: api.confirmed >= first)  # stored, so confirmed at once: nothing holds it back
        await other.say("/start")  # other chats are not held up
        await api.wait_for(lambda: any(m.get("reply_markup") for m in waiting.inbox))
        assert refused == [first, first]  # handled again from the inbox until the database answered
        assert len([m for m in waiting.inbox if GREETING in m["text"]]) == 1
        assert len([m for m in other.inbox if GREETING in m["text"]]) == 1
    finally:
        await bot.stop()


async def test_polling_does_not_confirm_what_it_could_not_store(api: FakeBotAPI, bot_settings: Settings, clock,
                                                               sessions, monkeypatch) -> None:
    refused = refuse_storing(monkeypatch, 1001, times=2)
    bot = RunningBot(bot_settings, clock)
    await bot.start()
    try:
        merchant = Merchant(api, 1001)
        first = await merchant.send("/start")
        await api.wait_for(lambda: len(refused) >= 1)
        assert api.confirmed < first, "an update that was not stored must not be confirmed"
        await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox))
        await api.wait_for(lambda: api.confirmed >= first)
        assert refused == [first, first]
        assert len([m for m in merchant.inbox if GREETING in m["text"]]) == 1
    finally:
        await bot.stop()


async def test_the_webhook_answers_503_until_the_update_is_stored(api: FakeBotAPI, bot_settings: Settings, clock,
                                                                  sessions, monkeypatch) -> None:
    refused = refuse_storing(monkeypatch, 1001, times=2)
    handling_refused = fail_first(monkeypatch, 1001, times=1)
    port = free_port()
    settings = bot_settings.model_copy(update={"webhook_url": "https://bot.example.com/hook", "webhook_port": port,
                                               "webhook_secret": SecretStr("secret-for-tests")})
    bot = RunningBot(settings, clock)
    await bot.start()
    try:
        api.webhook_targets = [f"http://127.0.0.1:{port}/hook"]
        merchant = Merchant(api, 1001)
        update_id = await merchant.send("/start")
        await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox))
        await api.wait_for(lambda: any(uid == update_id and status == 200 for uid, _, status in api.deliveries))
        assert [status for uid, _, status in api.deliveries if uid == update_id] == [503, 503, 200]
        assert refused == [update_id, update_id]
        assert handling_refused == [update_id]  # stored and answered 200, then handled from the inbox
        assert len([m for m in merchant.inbox if GREETING in m["text"]]) == 1
        await merchant.say("/help")
        assert [status for _, _, status in api.deliveries][-1] == 200
    finally:
        await bot.stop()


async def test_a_message_answered_after_the_client_timeout_is_not_sent_twice(api: FakeBotAPI, bot_settings: Settings,
                                                                            clock, sessions) -> None:
    import asyncio

    bot = RunningBot(bot_settings, clock)
    await bot.start()
    try:
        merchant = Merchant(api, 1001)
        api.slow_answers, api.slow_seconds = 1, 7.0  # carried out, answered after python-telegram-bot's 5 s
        await merchant.send("/help")
        await api.wait_for(lambda: bool(merchant.inbox), timeout=15)
        await asyncio.sleep(9)  # past the answer, a retry, and the outbox's claim of what was not reported sent
        texts = [m["text"] for m in merchant.inbox]
        assert len(texts) == len(set(texts)), texts  # it may have arrived, so it was not sent again
        assert "查" in await merchant.say("/help")  # and the chat goes on
    finally:
        await bot.stop()
