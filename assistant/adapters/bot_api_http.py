"""python-telegram-bot's requests to the Bot API over aiohttp instead of httpx.

Measured under load (bench/load.py), httpx with httpcore and anyio cost about 0.8 ms of CPU per Bot
API request — a third of everything the bot did per update — and httpcore's pool does work per request
that grows with the square of its connections. aiohttp's connector does not. The behaviour is
python-telegram-bot's `HTTPXRequest`: the same default timeouts, form-encoded parameters, multipart
uploads, errors raised as `TimedOut` / `NetworkError` with the transport's error as their cause.
aiohttp has no write timeout; a request's connect time includes waiting for a free connection.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData
from telegram.warnings import PTBUserWarning

from assistant import metrics

logger = logging.getLogger(__name__)

NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
"""Failures before the request was written: no connection (or none free in time)."""


RAW_METHODS = ("getUpdates", "sendMessage")
"""Called through `Bot.do_api_request` on purpose: their answers taken as JSON, not parsed into objects
(updates are parsed when handled, from the inbox; of a sent message only its id is wanted, and parsing
the whole `Message` cost about 5% of the bot's CPU under load)."""


def allow_raw_calls() -> None:
    """Silence python-telegram-bot's advice to use its own method for `RAW_METHODS` (idempotent)."""
    warnings.filterwarnings("ignore", rf"Please use 'Bot\.({'|'.join(RAW_METHODS)})' instead", PTBUserWarning)


def may_have_arrived(error: BaseException) -> bool:
    """Whether a failed request may still have reached Telegram: sent, but no answer came back (an
    answer, even an error, says it did not arrive)."""
    cause = error.__cause__
    return isinstance(cause, (aiohttp.ClientError, asyncio.TimeoutError)) and not isinstance(cause, NOT_SENT)


def api_method(url: str) -> str:
    """The Bot API method a request calls (a metric's label: bounded, never a token or a file path)."""
    method = url.rsplit("/", 1)[-1]
    return method if method.isalnum() and len(method) <= 40 and "/file/" not in url else "other"


class AiohttpRequest(BaseRequest):
    """Bot API requests over one aiohttp session with at most `connections` connections."""

    def __init__(self, connections: int = 16, read_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300),
                headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(self, read: Any, connect: Any, pool: Any) -> aiohttp.ClientTimeout:
        read = self._read_timeout if isinstance(read, DefaultValue) else read
        connect = self._connect_timeout if isinstance(connect, DefaultValue) else connect
        pool = self._pool_timeout if isinstance(pool, DefaultValue) else pool
        waiting = None if connect is None or pool is None else connect + pool
        return aiohttp.ClientTimeout(total=None, connect=waiting, sock_connect=connect, sock_read=read)

    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        data: Any = None
        if request_data is not None:
            data = request_data.json_parameters
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in data.items():
                    form.add_field(name, value)
                for name, (file_name, content, mime_type) in files.items():
                    form.add_field(name, content, filename=file_name, content_type=mime_type)
                data = form
        called = api_method(url)
        try:
            async with self._session.request(method, url, data=data,
                                             timeout=self._timeout(read_timeout, connect_timeout, pool_timeout)
                                             ) as response:
                body = await response.read()
        except asyncio.TimeoutError as error:  # aiohttp's timeouts are asyncio's
            metrics.BOT_API_CALLS.labels(method=called, result="timeout").inc()
            raise TimedOut(f"aiohttp.{type(error).__name__}: {error}") from error
        except aiohttp.ClientError as error:
            metrics.BOT_API_CALLS.labels(method=called, result="network").inc()
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error
        status = response.status
        result = "ok" if status == 200 else "429" if status == 429 else "error"
        metrics.BOT_API_CALLS.labels(method=called, result=result).inc()
        return status, body
