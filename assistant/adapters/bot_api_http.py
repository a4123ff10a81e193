"""python-telegram-bot's requests to the Bot API over aiohttp instead of httpx.

Measured under load (bench/load.py), httpx with httpcore and anyio cost about 0.8 ms of CPU per Bot
API request — a third of everything the bot did per update — and httpcore's pool does work per request
that grows with the square of its connections. aiohttp's connector does not. The behaviour is
python-telegram-bot's `HTTPXRequest`: the same default timeouts, form-encoded parameters, multipart
uploads, errors raised as `TimedOut` / `NetworkError` with the transport's error as their cause.
aiohttp has no write timeout; a request's connect time includes waiting for a free connection.

Every request and file download can go through a proxy (api.telegram.org is not reachable from mainland
China without one): http:// and https:// proxies by aiohttp itself, socks5:// and socks5h:// by
aiohttp-socks' connector.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import urllib.request
import warnings
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
from aiohttp_socks import ProxyConnector, ProxyType
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


def bot_api_proxy(configured: str | None, base_url: str) -> str | None:
    """The proxy for the Bot API at `base_url`: TELEGRAM_PROXY; else, as curl and pip do, the environment's
    proxy for the URL's scheme (HTTPS_PROXY / https_proxy for https://) unless NO_PROXY names the host."""
    if configured:
        return configured
    parts = urlsplit(base_url)
    if parts.hostname and urllib.request.proxy_bypass(parts.hostname):
        return None
    proxy = urllib.request.getproxies().get(parts.scheme, "").strip()
    return (proxy if "://" in proxy else f"http://{proxy}") if proxy else None  # "host:3128" means http


def shown(proxy: str) -> str:
    """A proxy URL without its password (for logs)."""
    parts = urlsplit(proxy)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"


class AiohttpRequest(BaseRequest):
    """Bot API requests over one aiohttp session with at most `connections` connections, through `proxy`
    when given (http://, https://, socks5:// or socks5h://, with user:password@ if the proxy asks)."""

    def __init__(self, connections: int = 16, read_timeout: float | None = 5.0, connect_timeout: float | None = 5.0,
                 pool_timeout: float | None = 1.0, proxy: str | None = None) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxy = proxy
        self._http_proxy: str | None = None  # given with each request: an http:// or https:// proxy
        self._proxy_headers: dict[str, str] | None = None

    def _connector(self) -> aiohttp.TCPConnector:
        """A SOCKS proxy is the connector itself; an HTTP proxy is named with each request."""
        options: dict[str, Any] = {"limit": self._connections, "ttl_dns_cache": 300}
        if self._proxy is None:
            return aiohttp.TCPConnector(**options)
        parts = urlsplit(self._proxy)
        if parts.scheme in ("socks5", "socks5h"):
            return ProxyConnector(host=parts.hostname or "", port=parts.port or 1080, proxy_type=ProxyType.SOCKS5,
                                  username=unquote(parts.username) if parts.username else None,
                                  password=unquote(parts.password) if parts.password else None,
                                  rdns=parts.scheme == "socks5h", **options)
        self._http_proxy = shown(self._proxy)
        if parts.username is not None:
            login = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            self._proxy_headers = {"Proxy-Authorization": f"Basic {base64.b64encode(login).decode()}"}
        return aiohttp.TCPConnector(**options)

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    def _via(self, url: str) -> dict[str, Any]:
        """An HTTP proxy and its login: in the CONNECT for https://, in the request itself for http://."""
        if self._http_proxy is None:
            return {}
        login = self._proxy_headers if url.startswith("http:") else None
        return {"proxy": self._http_proxy, "proxy_headers": self._proxy_headers, "headers": login}

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=self._connector(), headers={"User-Agent": self.USER_AGENT})
            if self._proxy is not None:
                logger.info("Bot API requests go through the proxy %s", shown(self._proxy))

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
                                             timeout=self._timeout(read_timeout, connect_timeout, pool_timeout),
                                             **self._via(url)) as response:
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

    async def fetch(self, url: str, limit: int, timeout: float = 30.0) -> bytes | None:
        """GET a file (over this session: the same proxy), streamed: its content, or None as soon as it passes
        `limit` bytes, whatever size it was said to have. An HTTP error status raises `aiohttp.ClientError`."""
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        chunks: list[bytes] = []
        size = 0
        timeouts = aiohttp.ClientTimeout(total=timeout, sock_connect=self._connect_timeout)
        async with self._session.get(url, timeout=timeouts, **self._via(url)) as response:
            response.raise_for_status()
            if response.content_length is not None and response.content_length > limit:
                return None
            async for chunk in response.content.iter_chunked(65536):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    return None
        return b"".join(chunks)  # one copy of the file in memory, not several
