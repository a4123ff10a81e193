"""Local proxies for tests: an HTTP forward proxy and a SOCKS5 server on 127.0.0.1 that record what passed.

Both forward only to 127.0.0.1 (the fake Bot API): a request for any other host is recorded and refused,
so nothing leaves the machine. Through either, `requests` lists the HTTP requests seen ("POST /bot…/getMe").
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import re
import socket
import struct
from dataclasses import dataclass, field

REQUEST_LINE = re.compile(rb"(GET|POST) (\S+) HTTP/1\.[01]\r\n")
LOCAL = {"127.0.0.1", "localhost"}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: bytearray | None = None) -> None:
    try:
        while chunk := await reader.read(65536):
            if seen is not None:
                seen += chunk
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@dataclass
class _Proxy:
    """What both proxies share: a listening socket, the tunnels' bytes, what was refused."""

    tunnels: list[bytearray] = field(default_factory=list)  # bytes the client sent through each tunnel
    refused: list[str] = field(default_factory=list)  # "host:port" asked for and not forwarded
    port: int = 0
    _server: asyncio.AbstractServer | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self.handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._handlers.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def tunnel(self, client: tuple[asyncio.StreamReader, asyncio.StreamWriter], port: int) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", port)
        seen = bytearray()
        self.tunnels.append(seen)
        await asyncio.gather(_pipe(client[0], upstream_writer, seen), _pipe(upstream_reader, client[1]))

    @property
    def requests(self) -> list[str]:
        """"METHOD /path" of every HTTP request that went through (tunnels are read: the traffic is plain)."""
        return [f"{m.group(1).decode()} {m.group(2).decode()}" for seen in self.tunnels
                for m in REQUEST_LINE.finditer(bytes(seen))]

    def methods(self) -> list[str]:
        """The Bot API methods called through the proxy, and "download" for each file fetched."""
        return ["download" if "/file/bot" in path else path.rsplit("/", 1)[-1]
                for path in (request.split(" ", 1)[1] for request in self.requests)]


@dataclass
class HttpProxy(_Proxy):
    """A forward proxy: plain requests in absolute form (forwarded with `Connection: close`) and CONNECT.

    `credentials` ("user:password"): requests without them get 407, as a proxy asking for a login does.
    """

    credentials: str | None = None
    connects: list[str] = field(default_factory=list)  # CONNECT targets asked for
    logins: list[str | None] = field(default_factory=list)  # Proxy-Authorization of each request, decoded

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, *headers = head[:-4].split(b"\r\n")
        method, target, version = line.decode().split(" ")
        login = next((base64.b64decode(h.split(b" ")[-1]).decode() for h in headers
                      if h.lower().startswith(b"proxy-authorization:")), None)
        self.logins.append(login)
        if self.credentials is not None and login != self.credentials:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n"
                         b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        if method == "CONNECT":
            self.connects.append(target)
            host, _, port = target.rpartition(":")
            if host not in LOCAL:
                self.refused.append(target)
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self.tunnel((reader, writer), int(port))
            return
        match = re.match(r"http://([^/:]+):(\d+)(/.*)", target)
        if match is None or match.group(1) not in LOCAL:
            self.refused.append(target)
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        kept = [h for h in headers if not h.lower().startswith((b"connection:", b"proxy-", b"keep-alive:"))]
        rewritten = b"\r\n".join([f"{method} {match.group(3)} {version}".encode(), *kept, b"Connection: close"])
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", int(match.group(2)))
        seen = bytearray(rewritten + b"\r\n\r\n")
        self.tunnels.append(seen)
        upstream_writer.write(bytes(seen))
        await asyncio.gather(_pipe(reader, upstream_writer, seen), _pipe(upstream_reader, writer))


@dataclass
class Socks5Proxy(_Proxy):
    """A SOCKS5 server (RFC 1928, no authentication or RFC 1929 user/password), CONNECT only."""

    credentials: str | None = None
    targets: list[tuple[str, str, int]] = field(default_factory=list)  # (address type, host, port) asked for

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        offered = await reader.readexactly(count)
        assert version == 5
        wanted = 2 if self.credentials is not None else 0
        if wanted not in offered:
            writer.write(b"\x05\xff")
            return
        writer.write(bytes([5, wanted]))
        if wanted == 2:
            _, size = await reader.readexactly(2)
            user = (await reader.readexactly(size)).decode()
            size = (await reader.readexactly(1))[0]
            password = (await reader.readexactly(size)).decode()
            ok = f"{user}:{password}" == self.credentials
            writer.write(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        _, command, _, kind = await reader.readexactly(4)
        if kind == 1:
            host, name = str(ipaddress.IPv4Address(await reader.readexactly(4))), "ipv4"
        elif kind == 3:
            host, name = (await reader.readexactly((await reader.readexactly(1))[0])).decode(), "domain"
        else:
            host, name = str(ipaddress.IPv6Address(await reader.readexactly(16))), "ipv6"
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self.targets.append((name, host, port))
        if command != 1 or host not in LOCAL:
            self.refused.append(f"{host}:{port}")
            writer.write(b"\x05\x02\x00\x01" + socket.inet_aton("0.0.0.0") + b"\x00\x00")  # not allowed
            return
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", port))
        await writer.drain()
        await self.tunnel((reader, writer), port)
