"""Admin commands in chat: maintenance windows (a guided flow), statistics; all audited."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assistant.admin import imports, people
from assistant.admin.commands import end_maintenance, start_maintenance
from assistant.admin.figures import periods, ratings_chart
from assistant.merchant.diagnosis import window_summary
from assistant.domain.times import parse_time
from assistant.flow_runner import FlowRunner
from assistant.messages import ButtonPress, Command, DocumentRead, Inbound, Text
from assistant.outputs import Out, Reply
from assistant.replies import Renderer
from assistant.store.models import Conversation, User
from assistant.store.contracts import UnitOfWork
from flows.base import Say
from flows.announce import ANNOUNCE, AnnounceDraft
from flows.announce import CHOICES as ANNOUNCE_CHOICES
from flows.maintenance import CHOICES as MAINTENANCE_CHOICES
from flows.maintenance import MAINTENANCE, MaintenanceDraft
from flows.troubleshoot import PROMPT_BUTTONS, TROUBLESHOOT

logger = logging.getLogger(__name__)

DRAFTS: dict[str, tuple[type[Any], set[str]]] = {
    MAINTENANCE.name: (MaintenanceDraft, MAINTENANCE_CHOICES),
    ANNOUNCE.name: (AnnounceDraft, ANNOUNCE_CHOICES),
}


class AdminPorts:
    """What the admin flows need, for one admin's event."""

    def __init__(self, store: UnitOfWork, actor: User, tz: ZoneInfo, now: datetime, days: int) -> None:
        self.store, self.actor, self.tz, self.now, self.days = store, actor, tz, now, days

    async def audience_size(self, audience: str) -> int:
        return await self.store.broadcasts.audience_size(audience, self.now - timedelta(days=self.days))

    async def create_broadcast(self, audience: str, text: str) -> tuple[int, int]:
        broadcast = await self.store.broadcasts.create(created_by=self.actor.id, audience=audience, text=text,
                                                      since=self.now - timedelta(days=self.days), now=self.now)
        await self.store.audit.add(actor_id=self.actor.id, action="broadcast_created", allowed=True,
                               detail={"broadcast": broadcast.id, "audience": audience, "total": broadcast.total},
                               now=self.now)
        return broadcast.id, broadcast.total

    def parse_time(self, text: str) -> datetime | None:
        return parse_time(text, self.tz, self.now)

    async def save_window(self, starts_at: datetime, ends_at: datetime, message_zh: str, message_en: str) -> int:
        return await start_maintenance(self.store, starts_at=starts_at, ends_at=ends_at, message_zh=message_zh,
                                       message_en=message_en, now=self.now, actor_id=self.actor.id)


class AdminDesk:
    """Admin commands and the admin flows, inside one event's transaction."""

    def __init__(self, store: UnitOfWork, renderer: Renderer, flows: FlowRunner, tz: ZoneInfo,
                 now: datetime, announce_days: int) -> None:
        self.store = store
        self.renderer = renderer
        self.flows = flows
        self.tz = tz
        self.now = now
        self.announce_days = announce_days

    def _reply(self, key: str, user: User, chat_id: int, buttons: list[list[str]] | None = None, version: int = 0,
               **context: Any) -> Reply:
        text, rendered = self.renderer.render(Say(key, context, buttons or []), user.language)
        return Reply(text, rendered, version=version, chat_id=chat_id)

    @staticmethod
    def owns(conversation: Conversation) -> bool:
        """Whether the conversation is inside an admin flow (a draft being written)."""
        return conversation.flow in DRAFTS

    async def audited(self, event: Command, user: User) -> list[Out] | None:
        """Every admin command is audited; anyone but an admin is refused (the refusal returned)."""
        allowed = user.role == "admin"
        await self.store.audit.add(actor_id=user.id, action=event.name, allowed=allowed, detail={"args": event.args},
                                   now=self.now)
        if allowed:
            return None
        logger.warning("user %s (%s) tried /%s", user.id, user.role, event.name)
        return [self._reply("admin_only", user, event.chat_id, command=event.name)]

    async def start_draft(self, event: Command, user: User, conversation: Conversation) -> list[Out]:
        """/maintenance, /announce: the draft's flow from its start."""
        return await self._run(conversation, user, _prompt, start=event.name)

    async def end_maintenance(self, event: Command, user: User, conversation: Conversation) -> list[Out]:
        ended, waiting = await end_maintenance(self.store, self.now)
        return [self._reply("maint_ended", user, event.chat_id, ended=len(ended), waiting=waiting)]

    async def extend_maintenance(self, event: Command, user: User, conversation: Conversation) -> list[Out]:
        until = parse_time(event.args, self.tz, self.now) if event.args.strip() else None
        if until is None or until <= self.now:
            return [self._reply("maint_extend_usage", user, event.chat_id, text=event.args)]
        windows = await self.store.maintenance.extend(until, self.now)
        return [self._reply("maint_extended", user, event.chat_id, count=len(windows), until=until.isoformat())]

    async def list_maintenance(self, event: Command, user: User, conversation: Conversation) -> list[Out]:
        current = await self.store.maintenance.active(self.now)
        upcoming = await self.store.maintenance.upcoming(self.now)
        return [self._reply("system_status", user, event.chat_id,
                            current=window_summary(current) if current else None,
                            upcoming=[window_summary(w) for w in upcoming])]

    async def stats(self, event: Command, user: User, conversation: Conversation) -> list[Out]:
        inbox = await self.store.inbox.counts()
        figures = await periods(self.store, self.now, self.tz)
        chart = ratings_chart(self.renderer, user.language, event.chat_id, figures)
        return [self._reply("stats", user, event.chat_id, periods=figures, waiting=inbox.get("pending", 0),
                            dead=inbox.get("dead", 0)), *([chart] if chart else [])]

    async def users(self, event: Command, user: User, conversation: Conversation) -> list[Out]:
        return await people.users(self, event, user)

    async def user_button(self, event: ButtonPress, user: User) -> list[Out]:
        """A `/users` card's button: an admin's is carried out and audited; anyone else's refused and recorded."""
        if user.role != "admin":
            await self.store.audit.add(actor_id=user.id, action="users", allowed=False,
                                       detail={"choice": event.choice}, now=self.now)
            return [self._reply("admin_only", user, event.chat_id, command="users")]
        return await people.pressed(self, event, user)

    async def table_read(self, event: DocumentRead, user: User) -> list[Out]:
        """An admin's invoice table, read: previewed for an import."""
        return await imports.table_read(self, event, user)

    async def import_button(self, event: ButtonPress, user: User) -> list[Out]:
        """A preview's "import" or "cancel" (anyone but an admin refused and recorded)."""
        return await imports.pressed(self, event, user)

    async def forwarded(self, event: Text, user: User) -> list[Out]:
        return await people.forwarded(self, event, user)

    async def flow_event(self, event: Inbound, user: User, conversation: Conversation) -> list[Out]:
        """A message while the admin is inside an admin flow (maintenance, announce)."""
        if (user.role != "admin" or isinstance(event, Command)
                or (isinstance(event, ButtonPress) and event.choice == "cancel")):
            return await self._leave(conversation, user, "admin_cancelled" if user.role == "admin" else "admin_only")
        _, choices = DRAFTS[conversation.flow]
        trigger: str
        kwargs: dict[str, Any]
        if isinstance(event, ButtonPress):
            if event.version not in (None, 0, conversation.version) or event.choice not in choices:
                return await self._run(conversation, user, _expired)
            trigger, kwargs = event.choice, {}
        elif isinstance(event, Text):
            trigger, kwargs = "answer", {"text": event.text}
        else:
            return await self._run(conversation, user, _expired)
        if not self.flows.can(conversation.flow, conversation.state, trigger):
            return await self._run(conversation, user, _expired)
        return await self._run(conversation, user, lambda draft: draft.trigger(trigger, **kwargs))  # type: ignore[attr-defined]

    async def _run(self, conversation: Conversation, user: User, act: Any, start: str | None = None) -> list[Out]:
        """Drive the admin flow the conversation is in, or the flow `start` afresh."""
        flow = start or conversation.flow
        ports = AdminPorts(self.store, user, self.tz, self.now, self.announce_days)
        draft_class, _ = DRAFTS[flow]
        draft, replies = await self.flows.converse(self.store.conversations, conversation, flow,
                                                   lambda state, data: draft_class(state, data, ports), act,
                                                   language=user.language, now=self.now, fresh=start is not None)
        outputs: list[Out] = list(replies)
        if draft.finished:
            outputs += await self._leave(conversation, user, None)
        return outputs

    async def _leave(self, conversation: Conversation, user: User, key: str | None) -> list[Out]:
        """Back to the assistant's menu."""
        await self.flows.restart(self.store.conversations, conversation, TROUBLESHOOT.name, now=self.now)
        outputs: list[Out] = [self._reply(key, user, conversation.chat_id, command=key)] if key else []
        outputs.append(self._reply("state_menu", user, conversation.chat_id, PROMPT_BUTTONS["menu"],
                                   conversation.version))
        return outputs


async def _prompt(draft: Any) -> None:
    draft.prompt()


async def _expired(draft: Any) -> None:
    draft.say("menu_expired")
    draft.prompt()
