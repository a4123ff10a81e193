"""The transport-independent core: `await assistant.handle(event) -> list[Reply]`."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import flag_modified
from transitions.extensions.asyncio import AsyncMachine

from assistant.diagnosis import DiagnosisRules
from assistant.domain.extract import names_an_invoice
from assistant.events import Event, Reply
from assistant.ports import StorePorts
from assistant.replies import Renderer, normalise_language
from assistant.store.repo import Store
from flows.base import Say, attached
from flows.troubleshoot import CHOICES, TROUBLESHOOT, Troubleshoot

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# command -> flow trigger
COMMANDS = {"start": "menu", "cancel": "menu", "menu": "menu", "help": "help", "lang": "lang",
            "status": "status", "find": "find", "human": "human"}


@dataclass(frozen=True)
class CoreConfig:
    default_language: str
    max_years: int
    max_failures: int
    max_message_chars: int
    rules: DiagnosisRules


class Assistant:
    """Handles one event in one database transaction, with the flow's model attached for that event."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], renderer: Renderer, machine: AsyncMachine,
                 config: CoreConfig, clock: Clock = utcnow) -> None:
        self.sessions = sessions
        self.renderer = renderer
        self.machine = machine
        self.config = config
        self.clock = clock

    async def handle(self, event: Event) -> list[Reply]:
        """Everything the user should receive in answer to `event`; never raises for user input."""
        try:
            return await self._handle(event)
        except Exception:
            logger.exception("chat %s: event failed, nothing stored", event.chat_id)
            language = normalise_language(event.language, self.config.default_language)
            return [Reply(self.renderer.text("internal_error", language), chat_id=event.chat_id)]

    async def mark_unreachable(self, user_id: int) -> None:
        """The user blocked the bot: remember it so that nothing is sent to them in vain."""
        async with self.sessions() as session, session.begin():
            await Store(session).set_unreachable(user_id)

    async def _handle(self, event: Event) -> list[Reply]:
        now = self.clock()
        async with self.sessions() as session, session.begin():
            store = Store(session)
            user = await store.ensure_user(event.user_id, now=now, name=event.user_name,
                                           language=normalise_language(event.language, self.config.default_language))
            conversation, is_new = await store.conversation(event.chat_id, event.user_id,
                                                            initial=TROUBLESHOOT.initial, now=now)
            if conversation.state not in TROUBLESHOOT.state_names:
                logger.warning("chat %s: unknown stored state %r, back to the menu", event.chat_id, conversation.state)
                conversation.state, conversation.data = TROUBLESHOOT.initial, {}
            ports = StorePorts(store, user, conversation, now, self.config.rules, self.config.max_years,
                               self.config.max_failures)
            model = Troubleshoot(conversation.state, copy.deepcopy(conversation.data), ports, user.language)
            before = conversation.state
            async with attached(self.machine, model):
                await self._dispatch(model, event, is_new, conversation.version)
            conversation.state = model.state
            conversation.data = model.data
            flag_modified(conversation, "data")
            conversation.version += 1
            conversation.updated_at = now
            replies = [self._render(say, model.language, conversation.version, event.chat_id) for say in model.said]
        logger.info("chat %s: %s -> %s (%s)", event.chat_id, before, model.state,
                    ",".join(say.key for say in model.said))
        return replies

    async def _dispatch(self, model: Troubleshoot, event: Event, is_new: bool, version: int) -> None:
        if is_new or event.command == "start":
            model.say("greeting")
        if event.command is not None:
            trigger = COMMANDS.get(event.command.lower())
            if trigger is None:
                model.say("unknown_command", command=event.command)
                model.prompt()
                return
            await self._fire(model, trigger)
            return
        if event.choice is not None:
            if event.choice_version is not None and event.choice_version != version:
                model.say("menu_expired")
                model.prompt()
                return
            if event.choice not in CHOICES:
                model.say("menu_expired")
                model.prompt()
                return
            await self._fire(model, event.choice)
            return
        if event.attachment is not None:
            model.say("attachment_unsupported", kind=event.attachment.kind)
            model.prompt()
            return
        text = (event.text or "").strip()
        if not text:
            model.say("empty_message")
            model.prompt()
            return
        if len(text) > self.config.max_message_chars:
            model.say("message_too_long", length=len(text), limit=self.config.max_message_chars)
            model.prompt()
            return
        if is_new and not names_an_invoice(text, today=model.ports.today(), max_years=self.config.max_years):
            model.prompt()  # a first "hello" gets the greeting and the menu, not "I did not understand"
            return
        await self._fire(model, "provide", text=text)

    async def _fire(self, model: Troubleshoot, trigger: str, **kwargs: object) -> None:
        """Fire `trigger` if the current state has it; otherwise say it is not available here."""
        if trigger not in self.machine.get_triggers(model.state):
            model.say("not_available")
            model.prompt()
            return
        await model.trigger(trigger, **kwargs)  # type: ignore[attr-defined]

    def _render(self, say: Say, language: str, version: int, chat_id: int) -> Reply:
        text, buttons = self.renderer.render(say, language)
        return Reply(text=text, buttons=buttons, version=version, chat_id=chat_id)

