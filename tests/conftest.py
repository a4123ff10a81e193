"""Shared fixtures: both database backends, a controllable clock, and a merchant's chat."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.core import Assistant
from assistant.core import RECORDED
from assistant.messages import Attachment, ButtonPress, Command, FileSent, Inbound, OutputDelivered, Text
from assistant.outputs import Out, Reply
from assistant.settings import Settings
from assistant.store.engine import make_engine, make_sessions
from assistant.store.migrate import recreate, upgrade
from assistant.store.uow import sql_units

BEIJING = ZoneInfo("Asia/Shanghai")
# A fixed "now": 2026-06-15 10:00 Beijing time.
START = datetime(2026, 6, 15, 10, 0, tzinfo=BEIJING).astimezone(timezone.utc)
BACKENDS = ["sqlite", "postgresql"]


class FakeClock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    @property
    def today(self) -> date:
        return self.now.astimezone(BEIJING).date()


async def clear_database(session: AsyncSession) -> None:
    """Delete every row of every table, children first (the schema itself stays)."""
    from sqlalchemy import delete

    from assistant.store.models import Base

    for table in reversed(Base.metadata.sorted_tables):
        await session.execute(delete(table))


def _migrate(url: str, reset_postgres: bool) -> None:
    async def main() -> None:
        engine = make_engine(url)
        await (recreate(engine) if reset_postgres else upgrade(engine))
        await engine.dispose()

    asyncio.run(main())


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One migrated database per backend for the whole run."""
    urls = {"sqlite": f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"}
    _migrate(urls["sqlite"], reset_postgres=False)
    postgres = os.environ.get("TEST_DATABASE_URL")
    if postgres:
        _migrate(postgres, reset_postgres=True)
        urls["postgresql"] = postgres
    return urls


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, database_urls: dict[str, str]) -> str:
    if request.param not in database_urls:
        pytest.skip("set TEST_DATABASE_URL to test PostgreSQL")
    return request.param


@pytest.fixture
def database_url(backend: str, database_urls: dict[str, str]) -> str:
    return database_urls[backend]


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions over an emptied database."""
    engine = make_engine(database_url)
    factory = make_sessions(engine)
    async with factory() as session, session.begin():
        await clear_database(session)
    yield factory
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


SUPPORT_CHAT = -1001234567890


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, support_chat_id=SUPPORT_CHAT, _env_file=None)  # type: ignore[call-arg]


def delivering(assistant: Assistant) -> Assistant:
    """The core behind a transport that carries out every output at once (reports each one sent).

    Topics and copies, whose delivery carries ids Telegram assigns, are left for the test to report.

    Outbox tests use the core as built, to see what happens to outputs nobody reported sent.
    """
    for name in ("handle", "due"):
        original = getattr(assistant, name)

        async def deliver(*args: object, _original: Any = original, **kwargs: object) -> list[Out]:
            outputs: list[Out] = await _original(*args, **kwargs)
            await assistant.take([OutputDelivered(output) for output in outputs if not isinstance(output, RECORDED)])
            return outputs

        setattr(assistant, name, deliver)
    return assistant


def make_assistant(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Assistant:
    from bot import build_assistant

    return delivering(build_assistant(settings, sql_units(sessions), clock)[0])


@pytest.fixture
def assistant(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Assistant:
    return make_assistant(settings, sessions, clock)


@pytest.fixture
def core(settings: Settings, sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> Assistant:
    """The core as built: nothing reports its outputs sent."""
    from bot import build_assistant

    return build_assistant(settings, sql_units(sessions), clock)[0]


@dataclass
class Chat:
    """A merchant talking to the core; keeps every reply like a chat window would."""

    assistant: Assistant
    user_id: int = 1000
    chat_id: int = 1000
    language: str = "zh"
    history: list[Reply] = field(default_factory=list)
    outputs: list[Out] = field(default_factory=list)
    name: str = "Test"
    _ids: Iterator[int] = field(default_factory=lambda: iter(range(1, 10**6)))

    async def _send(self, kind: type[Inbound], **kwargs: Any) -> list[Reply]:
        if "message_id" not in kwargs and kind in (Text, FileSent):
            kwargs["message_id"] = next(self._ids)
        event = kind(user_id=self.user_id, chat_id=self.chat_id, language=self.language, user_name=self.name,
                     **kwargs)
        outputs = await self.assistant.handle(event)
        self.outputs.extend(outputs)
        replies = [out for out in outputs if isinstance(out, Reply)]
        self.history.extend(replies)
        return replies

    async def send(self, kind: type[Inbound], **kwargs: Any) -> list[Out]:
        """Send any message; every output (copies, topics…) is returned."""
        before = len(self.outputs)
        await self._send(kind, **kwargs)
        return self.outputs[before:]

    async def say(self, text: str) -> str:
        return joined(await self._send(Text, text=text))

    async def command(self, name: str, args: str = "") -> str:
        return joined(await self._send(Command, name=name, args=args))

    async def press(self, choice: str) -> str:
        """Press the button `choice` on the latest reply that shows it."""
        for reply in reversed(self.history):
            if reply.buttons:
                assert choice in reply.choices, f"no {choice!r} button, only {reply.choices}"
                return joined(await self._send(ButtonPress, choice=choice, version=reply.version))
        raise AssertionError("no buttons shown yet")

    async def press_old(self, choice: str, version: int) -> str:
        return joined(await self._send(ButtonPress, choice=choice, version=version))

    async def send_attachment(self, kind: str) -> str:
        return joined(await self._send(FileSent, attachment=Attachment(kind=kind)))

    async def send_attachment_data(self, attachment: Attachment) -> str:
        return joined(await self._send(FileSent, attachment=attachment))

    @property
    def buttons(self) -> list[str]:
        for reply in reversed(self.history):
            if reply.buttons:
                return reply.choices
        return []


def joined(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)


def replies_of(outputs: list[Out]) -> list[Reply]:
    return [out for out in outputs if isinstance(out, Reply)]


@pytest.fixture
def chat(assistant: Assistant) -> Chat:
    return Chat(assistant)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never read a developer's .env."""
    monkeypatch.setitem(Settings.model_config, "env_file", None)
    yield
