"""The aiohttp transport tells a request that never left from one that may have reached Telegram."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from assistant.adapters.bot_api_http import AiohttpRequest, may_have_arrived


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
