"""Property-based: random sequences of events never break a flow (every flow, SQLite)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.messages import Attachment, ButtonPress, Command, FileSent, Inbound, Text
from assistant.outputs import Reply
from assistant.settings import Settings
from assistant.store.engine import make_engine, make_sessions
from assistant.store.migrate import upgrade
from assistant.store.uow import UnitOfWork
from flows.announce import ANNOUNCE
from flows.maintenance import MAINTENANCE
from flows.ticket import TICKET
from flows.troubleshoot import CHOICES, TROUBLESHOOT
from tests.conftest import SUPPORT_CHAT, FakeClock, clear_database
from tests.factories import add_invoices, add_user, code12, invoice

MERCHANT, ADMIN, STAFF = 1000, 900, 500
FLOW_STATES = {spec.name: set(spec.state_names) for spec in (TROUBLESHOOT, MAINTENANCE, ANNOUNCE)}
ISSUED = FakeClock().today - timedelta(days=30)
CODE = code12(ISSUED)

texts = st.sampled_from([
    f"代码 {CODE} 号码 12345678 日期 {ISSUED} 校验码 567890", f"代码 {CODE} 号码 77889900 日期 {ISSUED} 校验码 1",
    "号码 12345678", CODE, str(ISSUED), "567890", "1234567", "+2h", "now", "22:00", "金税系统升级", "hello",
    "为什么查不到发票", "", " ", "x" * 3000, "<b>hi</b>", "'; DROP TABLE users; --", "😀", "\x00\x1b[31m",
]) | st.text(max_size=40)
choices = st.sampled_from(sorted(CHOICES | {"now", "skip", "confirm", "edit", "cancel", "recent", "subscribers",
                                            "claim.1", "close.1", "rate.1.5", "reopen.1", "bogus", ""}))
commands = st.sampled_from(["start", "cancel", "help", "lang", "status", "tickets", "maintenance", "announce",
                            "stats", "maintenance_end", "maintenance_list", "claim", "close", "lookup", "nonsense"])
kinds = st.sampled_from(["photo", "document", "sticker", "voice", "location"])


@st.composite
def events(draw: st.DrawFn) -> Inbound:
    who = draw(st.sampled_from([MERCHANT, MERCHANT, MERCHANT, ADMIN, STAFF]))
    chat = SUPPORT_CHAT if who == STAFF else who
    base = {"user_id": who, "chat_id": chat, "language": "zh", "message_id": draw(st.integers(1, 10**6)),
            "thread_id": draw(st.sampled_from([None, 1, 77])) if who == STAFF else None}
    kind = draw(st.sampled_from(["text", "text", "choice", "command", "attachment"]))
    if kind == "text":
        return Text(text=draw(texts), edited=draw(st.booleans()) and who == STAFF, **base)
    if kind == "choice":
        return ButtonPress(choice=draw(choices), version=draw(st.sampled_from([None, 0, 1, 2, 5, 50])), **base)
    if kind == "command":
        return Command(name=draw(commands), args=draw(st.sampled_from(["", "12345678", "+1h", "hotline"])), **base)

    async def fetch(limit: int = 0) -> bytes:
        return b"not an image"
    return FileSent(attachment=Attachment(kind=draw(kinds), fetch=fetch), **base)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('prop') / 'prop.sqlite3'}"

    async def migrate() -> None:
        engine = make_engine(url)
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return url


async def run(url: str, sequence: list[Inbound]) -> None:
    from tests.conftest import make_assistant

    engine = make_engine(url)
    sessions = make_sessions(engine)
    clock = FakeClock()
    try:
        async with sessions() as session, session.begin():
            await clear_database(session)
        await add_user(sessions, clock.now)
        await add_user(sessions, clock.now, user_id=ADMIN, role="admin", companies=())
        await add_user(sessions, clock.now, user_id=STAFF, role="staff", companies=())
        await add_invoices(sessions, clock.now, invoice(CODE, "12345678", ISSUED))
        assistant = make_assistant(Settings(database_url=url, support_chat_id=SUPPORT_CHAT, _env_file=None),
                                    sessions, clock)
        final = [Command(user_id=MERCHANT, chat_id=MERCHANT, name="cancel"),
                 Command(user_id=ADMIN, chat_id=ADMIN, name="cancel")]
        for event in [*sequence, *final]:
            outputs = await assistant.handle(event)
            if event in final:  # withdrawing a ticket is asked first: confirm it
                for choice in [c for o in outputs if isinstance(o, Reply) for c in o.choices
                               if c.startswith("withdraw.")]:
                    outputs += await assistant.handle(ButtonPress(user_id=event.user_id, chat_id=event.chat_id,
                                                                  choice=choice, version=0))
            for output in outputs:
                assert not (isinstance(output, Reply) and "出了点问题" in output.text), event
            clock.advance(minutes=7)
            await assistant.due()
            async with sessions() as session:
                for chat in (MERCHANT, ADMIN):
                    row, _ = await UnitOfWork(session).conversations.get(chat, chat, initial="menu", now=clock.now)
                    assert row.state in FLOW_STATES[row.flow], (row.flow, row.state)
                for ticket in await UnitOfWork(session).tickets.all():
                    assert ticket.state in TICKET.state_names
        async with sessions() as session:
            for chat in (MERCHANT, ADMIN):
                row, _ = await UnitOfWork(session).conversations.get(chat, chat, initial="menu", now=clock.now)
                assert (row.flow, row.state) == ("troubleshoot", "menu"), "/cancel returns to the menu"
    finally:
        await engine.dispose()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(events(), min_size=1, max_size=12))
def test_random_events_never_break_a_flow(database: str, sequence: list[Inbound]) -> None:
    asyncio.run(run(database, sequence))
