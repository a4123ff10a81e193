"""End to end: with a proxy configured, every Bot API request and file download of the real bot goes through it.

The proxies (tests/proxies.py) are local and record the HTTP requests they carried; the fake Bot API records
what it received. Every call the API saw must have passed through the proxy.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr

from assistant.settings import Settings
from tests.e2e.conftest import RunningBot
from tests.e2e.fake_bot_api import FakeBotAPI, Merchant
from tests.factories import add_invoices, add_user, code12, invoice
from tests.proxies import HttpProxy, Socks5Proxy
from tests.synthetic import qr

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("backend", ["sqlite"], indirect=True)]  # not about storage

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY",
                   "no_proxy")


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def http_proxy() -> AsyncIterator[HttpProxy]:
    proxy = HttpProxy(credentials="bot:s3cret")
    await proxy.start()
    yield proxy
    await proxy.stop()


@pytest.fixture
async def socks_proxy() -> AsyncIterator[Socks5Proxy]:
    proxy = Socks5Proxy()
    await proxy.start()
    yield proxy
    await proxy.stop()


async def a_conversation_with_a_photo(api: FakeBotAPI, sessions, clock) -> None:
    """/start, then a photo of an invoice's QR code: getMe, getUpdates, sendMessage, getFile, the download."""
    issued = clock.today - timedelta(days=30)
    code = code12(issued)
    await add_invoices(sessions, clock.now, invoice(code, "12345678", issued))
    await add_user(sessions, clock.now, user_id=1001)
    merchant = Merchant(api, 1001)
    assert "发票查询助手" in await merchant.say("/start")
    photo = io.BytesIO()
    qr(f"01,10,{code},12345678,1000.00,{issued:%Y%m%d},12345678901234567890,AB12", scale=6).save(photo, "PNG")
    before = len(merchant.inbox)
    await merchant.photo(content=photo.getvalue())
    await api.wait_for(lambda: any(m.get("reply_markup") for m in merchant.inbox[before:]))
    assert "读到了" in merchant.inbox[-1]["text"] and "12345678" in merchant.inbox[-1]["text"]


async def converse(api: FakeBotAPI, settings: Settings, sessions, clock) -> None:
    """The bot started with `settings`, the conversation, the bot stopped."""
    bot = RunningBot(settings, clock)
    await bot.start()
    try:
        await a_conversation_with_a_photo(api, sessions, clock)
    finally:
        await bot.stop()


def assert_all_went_through(api: FakeBotAPI, proxied: list[str]) -> None:
    received = Counter(call.method for call in api.calls if not call.via_webhook_response)
    assert {"getMe", "getUpdates", "sendMessage", "getFile", "download"} <= set(received)
    assert not received - Counter(proxied), "calls that reached the Bot API without the proxy"


async def test_telegram_proxy_http_carries_every_request_and_download(
        api: FakeBotAPI, bot_settings: Settings, clock, sessions, http_proxy: HttpProxy,
        no_proxy_environment: None) -> None:
    settings = bot_settings.model_copy(update={
        "telegram_proxy": SecretStr(f"http://bot:s3cret@127.0.0.1:{http_proxy.port}")})
    await converse(api, settings, sessions, clock)
    assert_all_went_through(api, http_proxy.methods())
    assert set(http_proxy.logins) == {"bot:s3cret"} and not http_proxy.refused


async def test_telegram_proxy_socks5h_carries_every_request_and_download(
        api: FakeBotAPI, bot_settings: Settings, clock, sessions, socks_proxy: Socks5Proxy,
        no_proxy_environment: None) -> None:
    """The Bot API named by host name: with socks5h the proxy, not the bot, resolves it."""
    settings = bot_settings.model_copy(update={
        "telegram_proxy": SecretStr(f"socks5h://127.0.0.1:{socks_proxy.port}"),
        "telegram_api_base_url": api.base_url.replace("127.0.0.1", "localhost"),
        "telegram_api_file_url": api.file_url.replace("127.0.0.1", "localhost")})
    await converse(api, settings, sessions, clock)
    assert_all_went_through(api, socks_proxy.methods())
    assert {target for target in socks_proxy.targets} == {("domain", "localhost", api.port)}


async def test_the_environments_proxy_is_honoured_and_no_proxy_too(
        api: FakeBotAPI, bot_settings: Settings, clock, sessions, http_proxy: HttpProxy,
        no_proxy_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without TELEGRAM_PROXY, the standard variables: HTTP_PROXY here, as the fake Bot API is http://
    (HTTPS_PROXY for api.telegram.org: tests/unit/test_bot_api_http.py)."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("HTTP_PROXY", f"http://bot:s3cret@127.0.0.1:{http_proxy.port}")
    bot = RunningBot(bot_settings, clock)
    await bot.start()
    try:
        assert "发票查询助手" in await Merchant(api, 1001).say("/start")
    finally:
        await bot.stop()
    assert api.calls_of("sendMessage") and not http_proxy.requests  # NO_PROXY named the host

    monkeypatch.delenv("NO_PROXY")
    api.calls.clear()
    await converse(api, bot_settings, sessions, clock)
    assert_all_went_through(api, http_proxy.methods())
