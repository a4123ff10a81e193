"""The admin room's handlers in the routing table: admin commands, and messages while a draft is written."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from assistant.admin.desk import AdminDesk
from assistant.messages import ButtonPress, Command, DocumentRead, Inbound, Text
from assistant.outputs import Out
from assistant.store.models import Conversation, User
from assistant.turn import Handler, Turn

Run = Callable[[AdminDesk, Command, User, Conversation], Awaitable[list[Out]]]


def _admin_only(run: Run) -> Handler:
    """An admin command: audited, refused to anyone but an admin, else run by the admin desk."""
    async def handle(turn: Turn, message: Command) -> list[Out]:
        desk = turn.admin()
        refused = await desk.audited(message, turn.user)
        if refused is not None:
            return refused
        return await run(desk, message, turn.user, turn.conversation)
    handle.__name__ = handle.__qualname__ = run.__name__
    return handle


maintenance = _admin_only(AdminDesk.start_draft)
announce = _admin_only(AdminDesk.start_draft)
maintenance_end = _admin_only(AdminDesk.end_maintenance)
maintenance_extend = _admin_only(AdminDesk.extend_maintenance)
maintenance_list = _admin_only(AdminDesk.list_maintenance)
stats = _admin_only(AdminDesk.stats)
users = _admin_only(AdminDesk.users)


async def user_button(turn: Turn, message: ButtonPress) -> list[Out]:
    """A button on a `/users` card."""
    return await turn.admin().user_button(message, turn.user)


async def table_read(turn: Turn, message: DocumentRead) -> list[Out]:
    """An invoice table an admin sent, read in the isolated reader: its import's preview."""
    return await turn.admin().table_read(message, turn.user)


async def import_button(turn: Turn, message: ButtonPress) -> list[Out]:
    """A button on an import's preview."""
    return await turn.admin().import_button(message, turn.user)


async def forwarded(turn: Turn, message: Text) -> list[Out]:
    """A message an admin forwarded to the bot: its sender's card."""
    return await turn.admin().forwarded(message, turn.user)


async def draft(turn: Turn, message: Inbound) -> list[Out]:
    """A message while the admin is inside an admin flow (maintenance, announce)."""
    return await turn.admin().flow_event(message, turn.user, turn.conversation)
