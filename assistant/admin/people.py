"""`/users` in chat: an admin lists users, opens one (by id or by forwarding their message), sets a role with a
button, links and unlinks a company, removes a user or erases their personal data (PIPL) after a confirming
button; every change audited."""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from assistant.messages import ButtonPress, Command, Text
from assistant.outputs import Out
from assistant.store.models import ROLES, User

if TYPE_CHECKING:
    from assistant.admin.desk import AdminDesk

logger = logging.getLogger(__name__)

LISTED = 20
"""How many users `/users` shows (the rest are counted)."""
TAX_ID = re.compile(r"[0-9A-Z]{15,20}")
USAGE = re.compile(r"(?:(add|remove|forget)\s+)?(\d{1,15})|(link|unlink)\s+(\d{1,15})\s+(\S+)", re.IGNORECASE)
ACTIONS = (*ROLES, "remove", "forget")
"""What a card's button may do: set a role, remove the account, erase the person's data."""


def _buttons(user_id: int, confirming: str | None = None) -> list[list[str]]:
    if confirming is not None:
        return [[f"users.{user_id}.{confirming}"]]
    return [[f"users.{user_id}.{role}" for role in ROLES]]


async def _card(desk: AdminDesk, admin: User, chat_id: int, user_id: int, *, confirming: str | None = None,
                done: str | None = None) -> list[Out]:
    """One user as stored (or "not known yet"), with the role buttons, or the confirmation of a removal
    ("remove") or of erasing what is stored about them ("forget", with what that is)."""
    user = await desk.store.users.get(user_id)
    companies = sorted(await desk.store.users.companies_of(user_id)) if user else []
    stored: dict[str, int] = {}
    if confirming == "forget":
        stored = {table: len(rows) for table, rows in (await desk.store.privacy.export(user_id)).items() if rows}
    if confirming == "forget":
        buttons = _buttons(user_id, "forget") if stored else []
    else:
        buttons = _buttons(user_id, "remove" if confirming == "remove" and user else None)
    return [desk._reply("users_card", admin, chat_id, buttons, id=user_id, person=user,
                        companies=companies, removing=confirming == "remove", forgetting=confirming == "forget",
                        stored=list(stored.items()), done=done)]


async def users(desk: AdminDesk, event: Command, admin: User) -> list[Out]:
    """/users; /users ID (or add ID); /users link|unlink ID TAX_ID; /users remove ID; /users forget ID."""
    args = " ".join(event.args.split())
    if not args:
        rows = await desk.store.users.all()
        return [desk._reply("users_list", admin, event.chat_id,
                            users=[(user, companies) for user, companies in rows[:LISTED]],
                            more=max(0, len(rows) - LISTED))]
    match = USAGE.fullmatch(args)
    if match is None:
        return [desk._reply("users_usage", admin, event.chat_id)]
    if match.group(2):
        confirming = (match.group(1) or "").lower()
        return await _card(desk, admin, event.chat_id, int(match.group(2)),
                           confirming=confirming if confirming in ("remove", "forget") else None)
    action, user_id, tax_id = match.group(3).lower(), int(match.group(4)), match.group(5).upper()
    if not TAX_ID.fullmatch(tax_id):
        return [desk._reply("users_bad_tax_id", admin, event.chat_id, tax_id=tax_id)]
    user = await desk.store.users.get(user_id)
    if user is None:
        return await _card(desk, admin, event.chat_id, user_id)
    if action == "link":
        await desk.store.users.save(user_id, role=user.role, language=None, companies=[tax_id], now=desk.now)
        changed = 1
    else:
        changed = await desk.store.users.unlink(user_id, [tax_id])
    await _audit(desk, admin, f"user_{action}ed", {"user": user_id, "company": tax_id, "changed": changed})
    return await _card(desk, admin, event.chat_id, user_id, done=f"{action}ed" if changed else "not_linked")


async def pressed(desk: AdminDesk, event: ButtonPress, admin: User) -> list[Out]:
    """users.ID.ROLE sets the role (creating the user); users.ID.remove removes them; users.ID.forget erases
    their personal data (anonymous counts stay)."""
    parts = event.choice.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ACTIONS:
        return [desk._reply("menu_expired", admin, event.chat_id)]
    user_id, what = int(parts[1]), parts[2]
    if user_id == admin.id:  # an admin cannot lock themselves out
        return [desk._reply("users_self", admin, event.chat_id)]
    if what == "remove":
        removed = await desk.store.users.remove(user_id)
        await _audit(desk, admin, "user_removed", {"user": user_id, "removed": removed})
        return [desk._reply("users_removed", admin, event.chat_id, id=user_id, removed=removed)]
    if what == "forget":
        changed = await desk.store.privacy.forget(user_id)
        await _audit(desk, admin, "user_forgotten", {"tables": changed, "via": "telegram"})  # that, not who
        return [desk._reply("users_forgotten", admin, event.chat_id, id=user_id, changed=list(changed.items()))]
    await desk.store.users.save(user_id, role=what, language=None, companies=[], now=desk.now)
    await _audit(desk, admin, "user_saved", {"user": user_id, "role": what})
    return await _card(desk, admin, event.chat_id, user_id, done="role")


async def forwarded(desk: AdminDesk, event: Text, admin: User) -> list[Out]:
    """A message an admin forwarded: its sender's card (0: the sender hides their account in forwards)."""
    if not event.forwarded_from:
        return [desk._reply("users_hidden", admin, event.chat_id)]
    return await _card(desk, admin, event.chat_id, event.forwarded_from)


async def _audit(desk: AdminDesk, admin: User, action: str, detail: dict[str, object]) -> None:
    await desk.store.audit.add(actor_id=admin.id, action=action, allowed=True, detail=detail, now=desk.now)
    logger.info("admin %s: %s %s", admin.id, action, detail)
