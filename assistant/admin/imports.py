"""Invoice imports in chat: an admin's CSV or XLSX previewed (read in the isolated reader), then imported
on their confirmation by the import runner (`assistant/imports.py`); every step audited.

The preview keeps only what importing needs (Telegram's file id, the name and size) in `pending_imports`;
the file is fetched again when the admin presses "import".
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from assistant.import_reasons import say
from assistant.messages import ButtonPress, DocumentRead
from assistant.outputs import Out
from assistant.store.models import User

if TYPE_CHECKING:
    from assistant.admin.desk import AdminDesk

logger = logging.getLogger(__name__)


def _buttons(import_id: int) -> list[list[str]]:
    return [[f"imports.{import_id}.go", f"imports.{import_id}.cancel"]]


def _preview(desk: AdminDesk, admin: User, table: dict[str, Any]) -> dict[str, Any]:
    """What the preview template shows of the reader's preview (plain JSON from the reading process), the
    reasons in the admin's language."""
    problems = [(int(row), say(desk.renderer, admin.language, reason)) for row, reason in table.get("problems", [])]
    return {"rows": int(table.get("rows", 0)), "good": int(table.get("good", 0)), "bad": int(table.get("bad", 0)),
            "families": [(str(kind), int(count)) for kind, count in dict(table.get("families", {})).items()],
            "problems": problems, "more_problems": max(0, int(table.get("bad", 0)) - len(problems)),
            "first": list(table.get("first", []))}


async def _audit(desk: AdminDesk, admin: User, action: str, detail: dict[str, Any], allowed: bool = True) -> None:
    await desk.store.audit.add(actor_id=admin.id, action=action, allowed=allowed, detail=detail, now=desk.now)
    logger.info("admin %s: %s %s", admin.id, action, detail)


async def table_read(desk: AdminDesk, event: DocumentRead, admin: User) -> list[Out]:
    """An admin's table, read: its preview with "import" and "cancel", or one line saying why it cannot be."""
    attachment, read = event.attachment, event.read
    name = attachment.file_name or "?"
    table = read.table
    detail: dict[str, Any] = {"file": name[:120], "size": attachment.size}
    if table is None or "refused" in table:
        why = (read.reason or "failed") if table is None else str(table["refused"])
        await _audit(desk, admin, "invoices_import_refused", {**detail, "reason": why})
        error = (table or {}).get("error")
        return [desk._reply("import_refused", admin, event.chat_id, name=name, reason=why,
                            kind=(table or {}).get("kind", ""),
                            error=say(desk.renderer, admin.language, error) if error else "")]
    if not table.get("good"):
        await _audit(desk, admin, "invoices_import_refused", {**detail, "reason": "no_good_rows",
                                                               "rows": table.get("rows", 0)})
        return [desk._reply("import_preview", admin, event.chat_id, name=name, importable=False, **_preview(desk, admin, table))]
    pending = await desk.store.imports.create(admin_id=admin.id, chat_id=event.chat_id, file_id=attachment.file_id,
                                              file_name=name, size=attachment.size, now=desk.now)
    await _audit(desk, admin, "invoices_import_previewed", {**detail, "import": pending.id, "rows": table["rows"],
                                                             "bad": table["bad"]})
    return [desk._reply("import_preview", admin, event.chat_id, _buttons(pending.id), name=name, importable=True,
                        **_preview(desk, admin, table))]


async def pressed(desk: AdminDesk, event: ButtonPress, admin: User) -> list[Out]:
    """imports.ID.go confirms the import (once, whoever presses again); imports.ID.cancel removes it."""
    parts = event.choice.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ("go", "cancel"):
        return [desk._reply("menu_expired", admin, event.chat_id)]
    import_id, what = int(parts[1]), parts[2]
    if admin.role != "admin":
        await _audit(desk, admin, "invoices_import", {"import": import_id, "choice": what}, allowed=False)
        return [desk._reply("admin_only", admin, event.chat_id, command="import")]
    pending = await desk.store.imports.get(import_id)
    if what == "go":
        if await desk.store.imports.confirm(import_id, admin.id, desk.now):
            assert pending is not None
            await _audit(desk, admin, "invoices_import_confirmed", {"import": import_id, "file": pending.file_name})
            return [desk._reply("import_started", admin, event.chat_id, name=pending.file_name)]
    elif await desk.store.imports.cancel(import_id, admin.id):
        assert pending is not None
        await _audit(desk, admin, "invoices_import_cancelled", {"import": import_id, "file": pending.file_name})
        return [desk._reply("import_cancelled", admin, event.chat_id, name=pending.file_name)]
    state = pending.state if pending is not None and pending.admin_id == admin.id else "gone"
    await _audit(desk, admin, "invoices_import_pressed_again", {"import": import_id, "choice": what, "state": state})
    return [desk._reply("import_already", admin, event.chat_id, state=state)]
