"""Webhook mode: Telegram posts updates to our ASGI server, which checks the secret token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from assistant.settings import Settings
from tests.e2e.conftest import RunningBot
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.e2e.processes import free_port

pytestmark = pytest.mark.e2e
SECRET = "s3cret-token_for-tests"


@pytest.fixture
async def webhook_bot(bot_settings: Settings, clock, sessions) -> AsyncIterator[tuple[RunningBot, str]]:
    port = free_port()
    settings = bot_settings.model_copy(update={"webhook_url": "https://bot.example.com/telegram/hook",
                                               "webhook_port": port, "webhook_listen": "127.0.0.1",
                                               "webhook_secret": SecretStr(SECRET)})
    bot = RunningBot(settings, clock)
    await bot.start()
    yield bot, f"http://127.0.0.1:{port}"
    await bot.stop()


async def test_webhook_serves_merchants_and_checks_the_secret(api: FakeBotAPI, webhook_bot) -> None:
    _, base = webhook_bot
    assert api.profile["webhook"]["url"] == "https://bot.example.com/telegram/hook"  # served here, behind a proxy
    assert api.profile["webhook"]["secret_token"] == SECRET
    assert not api.calls_of("getUpdates"), "no polling in webhook mode"
    merchant = Merchant(api, 1001)
    async with httpx.AsyncClient(base_url=base) as client:
        update = {"update_id": 1, **merchant.message_update("/start")}
        assert (await client.post("/telegram/hook", json=update)).status_code == 403
        wrong = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
        assert (await client.post("/telegram/hook", json=update, headers=wrong)).status_code == 403
        right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        assert (await client.post("/telegram/hook", json={"update_id": "x", "message": 5},
                                  headers=right)).status_code == 400
        assert (await client.post("/telegram/hook", json=update, headers=right)).status_code == 200
        await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox))
        assert "请选择您需要的服务" in merchant.inbox[-1]["text"]
        assert len([m for m in merchant.inbox if "发票查询助手" in m["text"]]) == 1  # rejected calls did nothing
        # Telegram retries an update it thinks was not delivered: acknowledged, not handled twice
        before = len(merchant.inbox)
        assert (await client.post("/telegram/hook", json=update, headers=right)).status_code == 200
        await asyncio.sleep(0.5)
        assert len(merchant.inbox) == before
        health = await client.get("/healthz")
        assert (health.status_code, health.text) == (200, "ok")


async def test_healthz_is_503_when_the_database_does_not_answer(api: FakeBotAPI) -> None:
    from assistant.adapters.webhook import webhook_app
    from assistant.store.engine import make_engine, ping

    engine = make_engine("postgresql+asyncpg://nobody@127.0.0.1:9/nothing")
    assert await ping(engine, timeout=2) is False
    app = webhook_app(path="/hook", secret=SECRET, healthy=lambda: ping(engine, timeout=2),
                      receive=lambda updates: asyncio.sleep(0))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.get("/healthz")
    assert (response.status_code, response.text) == (503, "database unavailable")
    await engine.dispose()


async def test_a_body_over_the_cap_is_refused_without_reading_it_whole() -> None:
    """413 for a declared size over 1 MB, and for a chunked body that passes it while streaming."""
    from assistant.adapters.webhook import MAX_BODY, webhook_app

    stored: list[dict] = []

    async def receive(updates: list[dict]) -> None:
        stored.extend(updates)

    app = webhook_app(path="/hook", secret=SECRET, healthy=lambda: asyncio.sleep(0, True), receive=receive)

    async def endless() -> AsyncIterator[bytes]:  # no Content-Length: Transfer-Encoding chunked
        yield b'{"update_id": 1, "message": {"text": "'
        for _ in range(5 * MAX_BODY // 65536):
            yield b"x" * 65536

    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        declared = await client.post("/hook", content=b"{}", headers={**headers, "Content-Length": str(MAX_BODY + 1)})
        streamed = await client.post("/hook", content=endless(), headers=headers)
        fine = await client.post("/hook", json={"update_id": 7, "message": {"text": "hi"}}, headers=headers)
    assert (declared.status_code, streamed.status_code, fine.status_code) == (413, 413, 200)
    assert [update["update_id"] for update in stored] == [7]


async def test_a_press_is_answered_in_the_webhook_response_not_by_a_call_of_its_own(api: FakeBotAPI,
                                                                                  webhook_bot) -> None:
    _, base = webhook_bot
    api.webhook_targets = [f"{base}/telegram/hook"]  # Telegram posts every update there
    merchant = Merchant(api, 1001)
    await merchant.say("/start")
    text = await merchant.press("find")
    assert "请发送<b>发票号码</b>" in text
    answers = api.calls_of("answerCallbackQuery")
    assert len(answers) == 1 and answers[0].via_webhook_response, "answered in the 200, at receipt"
    assert answers[0].params["callback_query_id"].startswith("q")
    own = {c.method for c in api.calls if not c.via_webhook_response and c.method != "getMe"
           and c.params.get("chat_id") in (1001, "1001")}
    assert own == {"sendMessage"}, "the bot's own calls for this chat only send its answers"


async def test_an_update_the_database_cannot_store_is_answered_200_and_dead_lettered(api: FakeBotAPI, webhook_bot,
                                                                                      sessions) -> None:
    """Not 503 for ever: Telegram would deliver it again and again. Admins see it in /stats and `inbox list`."""
    from assistant.store.uow import UnitOfWork

    _, base = webhook_bot
    merchant = Merchant(api, 1001)
    right = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with httpx.AsyncClient(base_url=base) as client:
        update = {"update_id": 2 ** 70, **merchant.message_update("/start")}
        assert (await client.post("/telegram/hook", json=update, headers=right)).status_code == 200
        assert (await client.post("/telegram/hook", json=update, headers=right)).status_code == 200
    async with sessions() as session:
        store = UnitOfWork(session).inbox
        [dead] = await store.entries(("dead",))
        assert await store.counts() == {"dead": 1}
    assert dead.payload["update"]["update_id"] == 2 ** 70 and "not storable" in dead.error
    api.webhook_targets = [f"{base}/telegram/hook"]
    admin = Merchant(api, 999, name="管理员")
    await admin.send("/stats")
    await api.wait_for(lambda: any("处理失败（死信）</b>" in m["text"] for m in admin.inbox))  # /stats (admins
    assert any("处理失败（死信）</b>：1" in m["text"] for m in admin.inbox)  # may also be told by an alert)
