"""The aiohttp transport tells a request that never left from one that may have reached Telegram."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from assistant.adapters.bot_api_http import AiohttpRequest, bot_api_proxy, may_have_arrived
from tests.proxies import HttpProxy, Socks5Proxy


@asynccontextmanager
async def server(answer: bytes | None) -> AsyncIterator[tuple[str, list[bytes]]]:
    """An HTTP server on 127.0.0.1 that records each request and answers `answer` (None: hangs up)."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length")), 0)
        seen.append(head + await reader.readexactly(length))
        if answer is not None:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                         % (len(answer), answer))
            await writer.drain()
        writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/botTOKEN/sendMessage", seen
    finally:
        listening.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def data() -> RequestData:
    return RequestData([RequestParameter.from_input("chat_id", 5), RequestParameter.from_input("text", "你好 & <b>")])


async def test_a_request_is_form_encoded_and_its_answer_returned() -> None:
    request = AiohttpRequest()
    await request.initialize()
    try:
        async with server(b'{"ok": true, "result": 1}') as (url, seen):
            status, body = await request.do_request(url, "POST", data())
        assert (status, json.loads(body)) == (200, {"ok": True, "result": 1})
        assert b"application/x-www-form-urlencoded" in seen[0]
        assert seen[0].endswith(b"chat_id=5&text=%E4%BD%A0%E5%A5%BD+%26+%3Cb%3E")
    finally:
        await request.shutdown()


async def test_no_connection_means_not_sent_and_a_hang_up_means_maybe_sent() -> None:
    request = AiohttpRequest(connect_timeout=2.0, read_timeout=2.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as refused:
            await request.do_request(f"http://127.0.0.1:{closed_port()}/botTOKEN/sendMessage", "POST", data())
        assert not may_have_arrived(refused.value)
        async with server(None) as (url, seen):
            with pytest.raises(NetworkError) as hung_up:
                await request.do_request(url, "POST", data())
        assert seen and may_have_arrived(hung_up.value)  # it arrived; no answer came
    finally:
        await request.shutdown()


async def test_an_answer_later_than_the_read_timeout_is_a_timeout_that_may_have_arrived() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(2)
        writer.close()

    listening = await asyncio.start_server(slow, "127.0.0.1", 0)
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        port = listening.sockets[0].getsockname()[1]
        with pytest.raises(TimedOut) as late:
            await request.do_request(f"http://127.0.0.1:{port}/botTOKEN/sendMessage", "POST", data())
        assert may_have_arrived(late.value)
    finally:
        await request.shutdown()
        listening.close()


# -- proxies ----------------------------------------------------------------------------------------
def test_the_proxy_is_telegram_proxy_else_the_environments_for_the_scheme_unless_no_proxy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    api = "https://api.telegram.org/bot"
    assert bot_api_proxy(None, api) is None
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.9:3128")
    assert bot_api_proxy(None, api) == "http://10.0.0.9:3128"
    assert bot_api_proxy("socks5h://127.0.0.1:1080", api) == "socks5h://127.0.0.1:1080"  # the setting wins
    assert bot_api_proxy(None, "http://127.0.0.1:8081/bot") is None  # a local Bot API server over http
    monkeypatch.setenv("https_proxy", "proxy.example:8080")  # lower case first, as curl; no scheme: http
    assert bot_api_proxy(None, api) == "http://proxy.example:8080"
    monkeypatch.setenv("NO_PROXY", "localhost,.telegram.org")
    assert bot_api_proxy(None, api) is None


@asynccontextmanager
async def through(proxy: HttpProxy | Socks5Proxy, url: Callable[[int], str | None]) -> AsyncIterator[AiohttpRequest]:
    """A started local proxy, and a transport using it (`url`: the proxy setting, given the proxy's port)."""
    await proxy.start()
    request = AiohttpRequest(proxy=url(proxy.port))
    await request.initialize()
    try:
        yield request
    finally:
        await request.shutdown()
        await proxy.stop()


async def test_requests_go_through_an_http_proxy_with_its_login() -> None:
    proxy = HttpProxy(credentials="bot:p@ss")
    async with through(proxy, lambda port: f"http://bot:p%40ss@127.0.0.1:{port}") as request:
        async with server(b'{"ok": true, "result": 1}') as (url, seen):
            status, body = await request.do_request(url, "POST", data())
    assert (status, json.loads(body)) == (200, {"ok": True, "result": 1})
    assert seen[0].endswith(b"chat_id=5&text=%E4%BD%A0%E5%A5%BD+%26+%3Cb%3E")  # the request, intact
    assert proxy.requests == ["POST /botTOKEN/sendMessage"] and proxy.logins == ["bot:p@ss"]


async def test_https_proxy_from_the_environment_carries_api_telegram_org(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Bot API host through HTTPS_PROXY: a CONNECT reaches the local proxy (which goes no further)."""
    for name in ("https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)

    def from_environment(port: int) -> str | None:
        monkeypatch.setenv("HTTPS_PROXY", f"http://bot:pw@127.0.0.1:{port}")
        return bot_api_proxy(None, "https://api.telegram.org/bot")

    proxy = HttpProxy(credentials="bot:pw")
    async with through(proxy, from_environment) as request:
        with pytest.raises(NetworkError):
            await request.do_request("https://api.telegram.org/botTOKEN/getMe", "POST")
    assert proxy.connects == ["api.telegram.org:443"] and proxy.refused == ["api.telegram.org:443"]
    assert proxy.logins == ["bot:pw"]  # the login went with the CONNECT


@pytest.mark.parametrize(("scheme", "host", "asked"), [("socks5", "127.0.0.1", ("ipv4", "127.0.0.1")),
                                                       ("socks5h", "localhost", ("domain", "localhost"))])
async def test_requests_and_downloads_go_through_a_socks5_proxy(scheme: str, host: str, asked: tuple[str, str]) -> None:
    """socks5h leaves the name to the proxy (api.telegram.org may not even resolve locally); socks5 does not."""
    proxy = Socks5Proxy(credentials="bot:secret")
    async with through(proxy, lambda port: f"{scheme}://bot:secret@127.0.0.1:{port}") as request:
        async with server(b'{"ok": true, "result": 1}') as (url, seen):
            url = url.replace("127.0.0.1", host)
            status, _ = await request.do_request(url, "POST", data())
            assert status == 200 and len(seen) == 1
            assert await request.fetch(url, limit=100) == b'{"ok": true, "result": 1}'
            assert await request.fetch(url, limit=10) is None  # past the limit: not taken
    assert proxy.targets[0] == (*asked, int(url.split(":")[2].split("/")[0]))
    assert proxy.requests[:2] == ["POST /botTOKEN/sendMessage", "GET /botTOKEN/sendMessage"]
