"""The routing table: who sent a message is resolved once, every row is reachable, and what no row takes
has a defined fallback (on the memory store)."""

from __future__ import annotations

from typing import Any

import pytest

from assistant.core import Assistant
from assistant.messages import (
    Attachment,
    ButtonPress,
    Command,
    DeadLettered,
    DeliveryFailed,
    DocumentRead,
    FileSent,
    FollowUpDue,
    Inbound,
    OutputDelivered,
    Text,
    TicketsDue,
)
from assistant.outputs import Reply
from assistant.routing import (
    ADMIN,
    ADMIN_COMMANDS,
    ADMIN_DRAFT,
    MENU_COMMANDS,
    MERCHANT,
    ROUTES,
    STAFF,
    SYSTEM,
    TICKET,
    handler_for,
    resolve,
    route,
    unrouted,
)
from assistant.runtime.file_reader import FileRead
from assistant.runtime.inbox import Batch
from assistant.settings import Settings
from assistant.store.memory import MemoryDatabase
from assistant.turn import Turn
from tests.conftest import SUPPORT_CHAT, FakeClock

MERCHANT_CHAT = 1000
ADMIN_CHAT = 7


def sample(kind: type[Any], name: str | None = None, chat_id: int = MERCHANT_CHAT) -> Any:
    """A message of `kind` (a command called `name`) from `chat_id`."""
    common: dict[str, Any] = {"user_id": chat_id if chat_id > 0 else 55, "chat_id": chat_id, "language": "zh"}
    attachment = Attachment(kind="photo")
    made: dict[type[Any], Any] = {
        Command: lambda: Command(name=name or "frobnicate", **common),
        Text: lambda: Text(text="你好", **common),
        ButtonPress: lambda: ButtonPress(choice=f"{name}.1" if name else "menu", **common),
        FileSent: lambda: FileSent(attachment=attachment, **common),
        DocumentRead: lambda: DocumentRead(attachment=attachment, read=FileRead(reason="failed"), **common),
        FollowUpDue: lambda: FollowUpDue(1, chat_id),
        TicketsDue: lambda: TicketsDue(),
        DeadLettered: lambda: DeadLettered(Batch(chat_id, ()), "boom"),
        OutputDelivered: lambda: OutputDelivered(Reply("x", chat_id=chat_id)),
        DeliveryFailed: lambda: DeliveryFailed(Reply("x", chat_id=chat_id), "error"),
    }
    if kind in made:
        return made[kind]()
    if issubclass(kind, FileSent):
        return kind(attachment=attachment, **common)
    return kind(**common)


@pytest.fixture
def database() -> MemoryDatabase:
    return MemoryDatabase()


@pytest.fixture
def core(database: MemoryDatabase) -> Assistant:
    from bot import build_assistant

    settings = Settings(database_url="sqlite+aiosqlite://", support_chat_id=SUPPORT_CHAT,  # never opened
                        _env_file=None)  # type: ignore[call-arg]
    return build_assistant(settings, database.unit_of_work, FakeClock())[0]


async def _audience(core: Assistant, database: MemoryDatabase, message: Any) -> tuple[str, Turn]:
    async with database.unit_of_work() as store:
        turn = Turn(core.services, store, core.clock())
        return await resolve(turn, message), turn


async def test_the_audience_is_resolved_once_from_the_chat_the_conversation_and_the_ticket(
        core: Assistant, database: MemoryDatabase) -> None:
    now = core.clock()
    async with database.unit_of_work() as store:
        await store.users.save(ADMIN_CHAT, role="admin", language="zh", companies=[], now=now)
        await store.users.save(8, role="admin", language="zh", companies=[], now=now)
        draft, _ = await store.conversations.get(8, 8, initial="menu", now=now)
        await store.conversations.save(draft, flow="maintenance", state="starts", data={}, now=now)
        await store.tickets.add(user_id=9, chat_id=9, reason="requested", language="zh", fields={}, checks=[],
                                now=now)

    audience, turn = await _audience(core, database, sample(Text))
    assert audience == MERCHANT and turn.is_new and turn.user.id == MERCHANT_CHAT
    assert (await _audience(core, database, sample(Text, chat_id=SUPPORT_CHAT)))[0] == STAFF
    assert (await _audience(core, database, sample(Command, "stats", chat_id=ADMIN_CHAT)))[0] == ADMIN
    assert (await _audience(core, database, sample(Command, "stats")))[0] == ADMIN  # the desk refuses a merchant
    assert (await _audience(core, database, sample(Text, chat_id=8)))[0] == ADMIN_DRAFT
    audience, turn = await _audience(core, database, sample(Text, chat_id=9))
    assert audience == TICKET and turn.ticket.chat_id == 9
    assert (await _audience(core, database, TicketsDue()))[0] == SYSTEM
    async with database.unit_of_work() as store:  # the support group keeps no conversation rows
        assert (await store.conversations.get(SUPPORT_CHAT, 55, initial="menu", now=now))[1]


@pytest.mark.parametrize("key", list(ROUTES), ids=lambda key: f"{key[0]}-{key[1].__name__}-{key[2]}")
def test_every_row_is_reachable(key: tuple[str, type[Any], str | None]) -> None:
    audience, kind, name = key
    assert handler_for(audience, sample(kind, name)) is ROUTES[key]  # type: ignore[arg-type]


def test_a_command_is_found_by_name_then_in_lower_case_then_by_type() -> None:
    assert handler_for(MERCHANT, sample(Command, "START")) is ROUTES[(MERCHANT, Command, "start")]
    assert handler_for(MERCHANT, sample(Command, "frobnicate")) is ROUTES[(MERCHANT, Command, None)]
    assert ADMIN_COMMANDS == ("maintenance", "maintenance_end", "maintenance_extend", "maintenance_list",
                              "announce", "stats", "users")


def test_the_command_menus_list_only_commands_with_rows() -> None:
    for name in MENU_COMMANDS:
        assert (MERCHANT, Command, name) in ROUTES, name
    assert all((ADMIN, Command, name) in ROUTES for name in ADMIN_COMMANDS)


def test_every_chat_audience_takes_every_kind_of_chat_message() -> None:
    kinds = {kind for _, kind, _ in ROUTES if issubclass(kind, Inbound)}
    for audience in (STAFF, ADMIN_DRAFT, TICKET, MERCHANT):
        for kind in kinds:
            assert handler_for(audience, sample(kind)) is not unrouted, (audience, kind)  # type: ignore[arg-type]


class Poke(Inbound):
    """A kind of message no row knows (a transport's new update type)."""


async def test_an_unknown_combination_falls_back_to_unrouted_which_changes_nothing(
        core: Assistant, database: MemoryDatabase) -> None:
    assert handler_for(MERCHANT, sample(Poke)) is unrouted
    assert handler_for(SYSTEM, sample(Text)) is unrouted
    assert handler_for(ADMIN, sample(Command, "frobnicate")) is unrouted
    assert await core.handle(sample(Poke)) == []
    async with database.unit_of_work() as store:
        assert await route(Turn(core.services, store, core.clock()), sample(Poke)) == []
