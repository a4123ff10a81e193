"""Updates are confirmed to Telegram only once handled: polling holds the offset, the webhook answers 503."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from assistant.core import Assistant
from assistant.events import Unavailable
from assistant.settings import Settings
from tests.e2e.conftest import RunningBot
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.test_webhook import free_port

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


async def test_polling_confirms_an_update_only_once_it_is_handled(api: FakeBotAPI, bot_settings: Settings, clock,
                                                                   sessions, monkeypatch) -> None:
    refused = fail_first(monkeypatch, 1001, times=2)
    bot = RunningBot(bot_settings, clock)
    await bot.start()
    try:
        waiting, other = Merchant(api, 1001), Merchant(api, 1002)
        first = await waiting.send("/start")
        await other.say("/start")  # other chats are not held up
        assert refused and api.confirmed < first, "an unhandled update must not be confirmed"
        await api.wait_for(lambda: any(m.get("reply_markup") for m in waiting.inbox))
        await api.wait_for(lambda: api.confirmed >= first + 1)
        assert refused == [first, first]  # tried again until the database answered
        assert len([m for m in waiting.inbox if GREETING in m["text"]]) == 1
        assert len([m for m in other.inbox if GREETING in m["text"]]) == 1
    finally:
        await bot.stop()


async def test_the_webhook_answers_503_until_the_update_is_handled(api: FakeBotAPI, bot_settings: Settings, clock,
                                                                   sessions, monkeypatch) -> None:
    refused = fail_first(monkeypatch, 1001, times=2)
    port = free_port()
    settings = bot_settings.model_copy(update={"webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_port": port,
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
        assert len([m for m in merchant.inbox if GREETING in m["text"]]) == 1
        await merchant.say("/help")
        assert [status for _, _, status in api.deliveries][-1] == 200
    finally:
        await bot.stop()
