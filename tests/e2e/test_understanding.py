"""Free text over the real Telegram stack, by long polling and by webhook: the same replies either way."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from assistant.settings import Settings
from assistant.store.uow import UnitOfWork
from tests.e2e.conftest import RunningBot
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import free_port
from tests.factories import add_user

pytestmark = pytest.mark.e2e
SECRET = "understanding-secret"


@pytest.fixture(params=["polling", "webhook"])
async def transport(request: pytest.FixtureRequest, api: FakeBotAPI, bot_settings: Settings, clock,
                    sessions) -> AsyncIterator[str]:
    settings = bot_settings
    if request.param == "webhook":
        port = free_port()
        settings = bot_settings.model_copy(update={"webhook_url": "https://bot.example.com/telegram/hook",
                                                   "webhook_port": port, "webhook_listen": "127.0.0.1",
                                                   "webhook_secret": SecretStr(SECRET)})
        api.webhook_targets = [f"http://127.0.0.1:{port}/telegram/hook"]
    await add_user(sessions, clock.now, user_id=1001)
    bot = RunningBot(settings, clock)
    await bot.start()
    yield request.param
    await bot.stop()


async def test_unclear_text_is_asked_back_and_a_person_request_opens_a_ticket(api: FakeBotAPI, transport: str,
                                                                                sessions) -> None:
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    reply = await merchant.say("qwpoe zzkx")
    assert "请点选最接近的一项" in reply or "我不太确定您的意思" in reply
    assert "qwpoe" not in reply and "human" in merchant.choices
    reply = await merchant.say("你们系统是不是挂了")
    assert "现在没有维护" in reply and merchant.choices == ["find", "menu"]
    reply = await merchant.say("我要找你们人工客服处理")
    assert "已为您创建人工工单" in reply
    async with sessions() as session:
        assert [t.reason for t in await UnitOfWork(session).tickets.all()] == ["requested"]
