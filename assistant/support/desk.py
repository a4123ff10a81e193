"""Human support: tickets relayed between a merchant's chat and a topic of the support group.

Transport-free: every method returns outputs (replies, copies, topic changes) that an adapter carries
out after the transaction; what the transport assigned (topic and message ids) comes back as delivery
messages the core hands to `topic_opened` and `relayed`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from assistant.merchant.diagnosis import invoice_summary
from assistant.domain.identifiers import compact
from assistant.domain.text import TOPIC_NAME_LIMIT, strip_format, utf16_cut
from assistant.flow_runner import FlowRunner
from assistant.messages import ButtonPress, Command, FileSent, Inbound, Text, TopicClosed, TopicReopened
from assistant.outputs import Copy, EditCard, EditCopy, OpenTopic, Out, Reply, TopicState
from assistant.replies import Renderer
from assistant.store.models import Ticket, User
from assistant.store.uow import UnitOfWork
from flows.base import Say
from flows.ticket import ACTIVE, TICKET, TicketLifecycle
from flows.troubleshoot import PROMPT_BUTTONS, TROUBLESHOOT

logger = logging.getLogger(__name__)

STAFF_ROLES = ("staff", "admin")
STAFF_COMMANDS = ("claim", "close", "reopen", "lookup", "reply", "queue", "note")
TICKET_CHOICES = ("claim", "close", "rate", "reopen", "withdraw", "keep")
TOPIC_RETRY = timedelta(minutes=1)
"""How long after the support group refused a topic (no rights) one ticket tries again."""
TOPIC_EVENTS = ("topic", "topic_lost", "topic_refused", "topic_retry", "copy_waiting")
LIST_LIMIT = 20
"""Lines of a list in one message (/queue, /tickets); the rest are counted ("and 17 more")."""


@dataclass(frozen=True)
class SupportConfig:
    chat_id: int | None
    opens: time
    closes: time
    weekdays: frozenset[int]
    claim_timeout: timedelta
    max_escalations: int
    staff_language: str
    tz: ZoneInfo
    tickets_per_day: int = 5


def ticket_choice(choice: str) -> tuple[str, int, int | None] | None:
    """("rate", ticket id, 4) for "rate.12.4"; None for choices that are not about a ticket."""
    parts = choice.split(".")
    if len(parts) not in (2, 3) or parts[0] not in TICKET_CHOICES or not parts[1].isdigit():
        return None
    value = int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else None
    return parts[0], int(parts[1]), value


class TicketPortsImpl:
    """Writes the lifecycle's history."""

    def __init__(self, store: UnitOfWork, ticket: Ticket, now: datetime) -> None:
        self.store, self.ticket, self.now = store, ticket, now

    async def record(self, event: str, state: str, actor_id: int | None, detail: dict[str, Any]) -> None:
        await self.store.tickets.add_event(ticket_id=self.ticket.id, event=event, state=state, actor_id=actor_id,
                                          detail=detail, now=self.now)


class SupportDesk:
    """Everything about tickets for one event, inside that event's transaction."""

    def __init__(self, store: UnitOfWork, renderer: Renderer, config: SupportConfig, flows: FlowRunner,
                 now: datetime) -> None:
        self.store = store
        self.renderer = renderer
        self.config = config
        self.flows = flows
        self.now = now

    # -- rendering ---------------------------------------------------------------------------------
    def _reply(self, template: str, language: str, chat_id: int, *, thread_id: int | None = None,
               buttons: list[list[str]] | None = None, version: int = 0, reply_to: int | None = None,
               **context: Any) -> Reply:
        text, rendered = self.renderer.render(Say(template, context, buttons or []), language)
        return Reply(text, rendered, version=version, chat_id=chat_id, thread_id=thread_id, reply_to=reply_to)

    def _staff(self, template: str, ticket: Ticket | None = None, *, thread_id: int | None = None,
               **context: Any) -> Reply:
        """A message in the support group: in the ticket's topic, or in the general topic."""
        assert self.config.chat_id is not None
        thread = thread_id if ticket is None else ticket.topic_id
        return self._reply(template, self.config.staff_language, self.config.chat_id, thread_id=thread,
                           ticket=self._view(ticket) if ticket else None, **context)

    def _to_merchant(self, template: str, ticket: Ticket, buttons: list[list[str]] | None = None,
                     **context: Any) -> Reply:
        return self._reply(template, ticket.language, ticket.chat_id, buttons=buttons, ticket=self._view(ticket),
                           **context)

    def _view(self, ticket: Ticket) -> dict[str, Any]:
        return {"id": ticket.id, "state": ticket.state, "reason": ticket.reason, "fields": ticket.fields,
                "checks": ticket.checks, "language": ticket.language, "user_id": ticket.user_id,
                "merchant_name": strip_format(ticket.merchant_name or ""), "created_at": ticket.created_at.isoformat(),
                "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
                "close_reason": ticket.close_reason, "rating": ticket.rating}

    async def _alias(self, user_id: int | None) -> tuple[str, str]:
        """(public alias, real name) of a staff member."""
        if user_id is None:
            return "", ""
        user = await self.store.users.get(user_id)
        return (strip_format(user.alias) if user else "", strip_format(user.name or "") if user else str(user_id))

    def topic_name(self, ticket: Ticket) -> str:
        number = ticket.fields.get("number") or "—"
        mark = "✅ " if ticket.state == "closed" else ""
        name = strip_format(ticket.merchant_name or "") or ticket.user_id  # names stored before they were cleaned
        return utf16_cut(strip_format(f"{mark}#{ticket.id} · {number} · {name}"), TOPIC_NAME_LIMIT)

    async def card(self, ticket: Ticket) -> Reply:
        earlier = [self._view(t) for t in await self.store.tickets.all(ticket.user_id) if t.id != ticket.id]
        alias, name = await self._alias(ticket.assignee_id)
        buttons = {"open": [[f"claim.{ticket.id}", f"close.{ticket.id}"]],
                   "claimed": [[f"close.{ticket.id}"]]}.get(ticket.state, [])
        return self._staff("ticket_card", ticket, buttons=buttons, earlier=earlier, assignee_alias=alias,
                           assignee_name=name)

    def hours(self) -> dict[str, Any]:
        """Support hours, whether they are open now, and when they next open."""
        local = self.now.astimezone(self.config.tz)
        info: dict[str, Any] = {"opens": self.config.opens.strftime("%H:%M"),
                                "closes": self.config.closes.strftime("%H:%M"),
                                "weekdays": sorted(self.config.weekdays)}
        is_open = (local.isoweekday() in self.config.weekdays
                   and self.config.opens <= local.time() < self.config.closes)
        info["open_now"] = is_open
        if not is_open:
            day = local
            for _ in range(8):
                start = day.replace(hour=self.config.opens.hour, minute=self.config.opens.minute, second=0,
                                    microsecond=0)
                if day.isoweekday() in self.config.weekdays and start > local:
                    info["opens_at"] = start.isoformat()
                    break
                day = (day + timedelta(days=1)).replace(hour=0, minute=0)
        return info

    # -- opening -------------------------------------------------------------------------------------
    async def open(self, *, user: User, chat_id: int, reason: str, fields: dict[str, Any],
                   checks: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Out]]:
        """A ticket for the merchant; what they are told, and what goes to the support group.

        A ticket the merchant withdrew within the reopening window is taken up again, in its own topic
        (asking and withdrawing by turns opens no new topics); beyond `tickets_per_day` requests a day
        (new tickets and ones taken up again: each costs the support group's shared rate limit) the
        merchant is told when they can ask again, and nothing is opened.
        """
        midnight = datetime.combine(self.now.astimezone(self.config.tz).date(), time.min, tzinfo=self.config.tz)
        withdrawn = await self.store.tickets.last_closed(chat_id)
        if withdrawn is not None and (withdrawn.close_reason != "withdrawn" or withdrawn.user_id != user.id):
            withdrawn = None
        taken_up = 0 if withdrawn is None else sum(
            1 for e in await self.store.tickets.events(withdrawn.id)
            if e.event == "reopen" and e.detail.get("again") and e.at >= midnight)
        if await self.store.tickets.opened_since(user.id, midnight) + taken_up >= self.config.tickets_per_day:
            logger.warning("user %s asked for a person %s times today; no ticket", user.id, self.config.tickets_per_day)
            return {"capped": True, "limit": self.config.tickets_per_day,
                    "until": (midnight + timedelta(days=1)).isoformat()}, []
        if withdrawn is not None and await self._fire(withdrawn, "reopen", user.id, user.role, again=reason):
            return await self._taken_up_again(withdrawn, user, reason, fields, checks)
        ticket = await self.store.tickets.add(user_id=user.id, chat_id=chat_id, reason=reason, language=user.language,
                                             fields=fields, checks=checks, now=self.now)
        ticket.merchant_name = user.name
        ticket.escalate_at = self.now + self.config.claim_timeout
        await self.store.tickets.add_event(ticket_id=ticket.id, event="open", state="open", actor_id=user.id,
                                          detail={"reason": reason}, now=self.now)
        outputs: list[Out] = []
        if self.config.chat_id is not None:
            outputs.append(OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket), await self.card(ticket)))
        logger.info("ticket %s opened for chat %s (%s)", ticket.id, chat_id, reason)
        return await self._opened_info(ticket), outputs

    async def _opened_info(self, ticket: Ticket) -> dict[str, Any]:
        return {"id": ticket.id, "queue": await self.store.tickets.queue_position(ticket),
                "support": self.config.chat_id is not None, **self.hours()}

    async def _taken_up_again(self, ticket: Ticket, user: User, reason: str, fields: dict[str, Any],
                              checks: list[dict[str, Any]]) -> tuple[dict[str, Any], list[Out]]:
        """A withdrawn ticket reopened with what the merchant asks now: its topic reopened, not a new one."""
        ticket.reason, ticket.fields, ticket.checks, ticket.merchant_name = reason, fields, checks, user.name
        ticket.closed_at, ticket.close_reason, ticket.assignee_id, ticket.claimed_at = None, "", None, None
        ticket.rating, ticket.escalations = None, 0
        ticket.escalate_at = self.now + self.config.claim_timeout
        outputs: list[Out] = []
        if self.config.chat_id is not None:
            if ticket.topic_id is None:
                outputs.append(OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket),
                                         await self.card(ticket)))
            else:
                outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=False))
                outputs += await self._card_update(ticket)
                outputs.append(self._staff("ticket_reopened_staff", ticket, by_merchant=True))
        logger.info("ticket %s taken up again for chat %s (%s)", ticket.id, ticket.chat_id, reason)
        return await self._opened_info(ticket), outputs

    # -- lifecycle ----------------------------------------------------------------------------------
    async def _fire(self, ticket: Ticket, trigger: str, actor_id: int | None, role: str, **detail: Any) -> bool:
        rated = ticket.rating is not None
        model = TicketLifecycle(ticket.state, owner_id=ticket.user_id, actor_id=actor_id, actor_role=role,
                                closed_at=ticket.closed_at, rated=rated, now=self.now,
                                ports=TicketPortsImpl(self.store, ticket, self.now), assignee_id=ticket.assignee_id)
        if not self.flows.can(TICKET.name, ticket.state, trigger):
            return False
        await self.flows.drive(TICKET.name, model, lambda m: m.trigger(trigger, **detail))  # type: ignore[attr-defined]
        ticket.state = model.state
        return model.done

    async def _reset_merchant(self, ticket: Ticket, state: str) -> list[Out]:
        """Put the merchant's conversation in `state`; the menu prompt when that is the menu."""
        conversations = self.store.conversations
        conversation, _ = await conversations.get(ticket.chat_id, ticket.user_id, initial=TROUBLESHOOT.initial,
                                                  now=self.now)
        await conversations.save(conversation, flow=TROUBLESHOOT.name, state=state, now=self.now,
                                 data={} if state == "menu" else {**conversation.data, "ticket_id": ticket.id})
        if state != "menu":
            return []
        return [self._reply("state_menu", ticket.language, ticket.chat_id, buttons=PROMPT_BUTTONS["menu"],
                            version=conversation.version)]

    async def claim(self, ticket: Ticket, actor: User) -> list[Out]:
        previous = ticket.assignee_id
        if not await self._fire(ticket, "claim", actor.id, actor.role, previous=previous):
            key = "ticket_already_yours" if ticket.assignee_id == actor.id else "ticket_cannot"
            return [self._staff(key, ticket, action="claim")]
        ticket.assignee_id, ticket.claimed_at, ticket.escalate_at = actor.id, self.now, None
        alias = actor.alias
        outputs: list[Out] = [self._staff("ticket_claimed_staff", ticket, staff_name=actor.name or str(actor.id))]
        outputs += await self._card_update(ticket)
        outputs.append(self._to_merchant("ticket_claimed", ticket, alias=alias))
        return outputs

    async def close(self, ticket: Ticket, actor: User, reason: str, *, by_topic: bool = False) -> list[Out]:
        role = "staff" if by_topic else actor.role
        if not await self._fire(ticket, "close", actor.id, role, reason=reason, by_topic=by_topic):
            return [self._staff("ticket_cannot", ticket, action="close")]
        ticket.closed_at, ticket.close_reason, ticket.escalate_at = self.now, reason, None
        outputs: list[Out] = await self._card_update(ticket)
        if ticket.topic_id is not None and not by_topic and self.config.chat_id is not None:
            outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=True))
        rating = [[f"rate.{ticket.id}.{n}" for n in range(1, 6)]]
        outputs.append(self._to_merchant("ticket_closed", ticket, buttons=rating))
        outputs += await self._reset_merchant(ticket, "menu")
        return outputs

    async def reopen(self, ticket: Ticket, actor: User, *, by_topic: bool = False) -> list[Out]:
        role = "staff" if by_topic else actor.role
        if not await self._fire(ticket, "reopen", actor.id, role, by_topic=by_topic):
            return [self._staff("ticket_cannot", ticket, action="reopen")] if actor.role in STAFF_ROLES else [
                self._to_merchant("ticket_reopen_refused", ticket)]
        ticket.closed_at, ticket.assignee_id, ticket.claimed_at = None, None, None
        ticket.rating, ticket.escalations = None, 0
        ticket.escalate_at = self.now + self.config.claim_timeout
        outputs: list[Out] = []
        if ticket.topic_id is not None and self.config.chat_id is not None and not by_topic:
            outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=False))
        outputs += await self._card_update(ticket)
        by_merchant = actor.id == ticket.user_id
        if self.config.chat_id is not None:
            outputs.append(self._staff("ticket_reopened_staff", ticket, by_merchant=by_merchant))
        outputs.append(self._to_merchant("ticket_reopened", ticket, by_merchant=by_merchant,
                                         queue=await self.store.tickets.queue_position(ticket), **self.hours()))
        await self._reset_merchant(ticket, "handoff")
        return outputs

    async def withdraw(self, ticket: Ticket, merchant: User) -> list[Out]:
        if not await self._fire(ticket, "withdraw", merchant.id, merchant.role):
            return [self._to_merchant("ticket_active", ticket)]
        ticket.closed_at, ticket.close_reason, ticket.escalate_at = self.now, "withdrawn", None
        outputs: list[Out] = await self._card_update(ticket)
        if ticket.topic_id is not None and self.config.chat_id is not None:
            outputs.append(self._staff("ticket_withdrawn_staff", ticket))
            outputs.append(TopicState(self.config.chat_id, ticket.topic_id, self.topic_name(ticket), closed=True))
        outputs.append(self._to_merchant("ticket_withdrawn", ticket))
        outputs += await self._reset_merchant(ticket, "menu")
        return outputs

    async def rate(self, ticket: Ticket, merchant: User, stars: int) -> list[Out]:
        if not 1 <= stars <= 5 or not await self._fire(ticket, "rate", merchant.id, merchant.role, stars=stars):
            return [self._to_merchant("rating_refused", ticket)]
        ticket.rating = stars
        outputs: list[Out] = [self._to_merchant("rating_thanks", ticket, stars=stars)]
        if ticket.topic_id is not None and self.config.chat_id is not None:
            outputs.append(self._staff("ticket_rated_staff", ticket, stars=stars))
        return outputs

    async def _card_update(self, ticket: Ticket) -> list[Out]:
        if ticket.card_message_id is None or self.config.chat_id is None:
            return []
        return [EditCard(self.config.chat_id, ticket.card_message_id, await self.card(ticket))]

    # -- the merchant's side ---------------------------------------------------------------------------
    async def merchant_event(self, message: Inbound, user: User, ticket: Ticket) -> list[Out]:
        """A message from a merchant whose ticket a person has (or will have): relayed, not answered."""
        if isinstance(message, Command) and message.name == "cancel":  # asked first: it cannot be undone
            return [self._to_merchant("ticket_withdraw_ask", ticket,
                                      buttons=[[f"withdraw.{ticket.id}", f"keep.{ticket.id}"]])]
        parsed = ticket_choice(message.choice) if isinstance(message, ButtonPress) else None
        if parsed is not None and parsed[1] == ticket.id and parsed[0] == "withdraw":
            return await self.withdraw(ticket, user)
        if parsed is not None and parsed[1] == ticket.id and parsed[0] == "keep":
            return [self._to_merchant("ticket_kept", ticket)]
        if isinstance(message, Command) and message.name == "tickets":
            return [await self.ticket_list(user, message.chat_id)]
        if isinstance(message, Command) and message.name == "help":  # help works during a ticket too
            return [self._reply("help", user.language, message.chat_id), self._to_merchant("ticket_active", ticket)]
        if isinstance(message, Command) and message.name == "lang":
            user.language = ticket.language = "en" if user.language == "zh" else "zh"
            return [self._reply("language_switched", user.language, message.chat_id),
                    self._to_merchant("ticket_active", ticket)]
        if isinstance(message, (Command, ButtonPress)) or not message.message_ids:
            return [self._to_merchant("ticket_active", ticket)]
        if isinstance(message, (Text, FileSent)) and message.edited:
            return await self._carry_edit(ticket, message)
        if self.config.chat_id is None:
            await self.store.tickets.add_event(ticket_id=ticket.id, event="message", state=ticket.state,
                                              actor_id=user.id, detail={"text": text_of(message),
                                                                        "message_ids": list(message.message_ids)},
                                              now=self.now)
            return []
        reply_to = (await self.store.tickets.counterpart(ticket.id, message.chat_id, message.reply_to)
                    if message.reply_to else None)
        return [Copy(ticket.id, message.chat_id, message.message_ids, self.config.chat_id, ticket.topic_id, reply_to)]

    async def _carry_edit(self, ticket: Ticket, message: Text | FileSent) -> list[Out]:
        """An edited text or caption, carried over to its copy on the other side."""
        if message.message_id is None:
            return []
        copy = await self.store.tickets.counterpart(ticket.id, message.chat_id, message.message_id)
        if copy is None:
            return []
        target = self.config.chat_id if message.chat_id == ticket.chat_id else ticket.chat_id
        if target is None:
            return []
        return [EditCopy(target, copy, text_of(message), caption=isinstance(message, FileSent),
                         entities=message.entities)]

    async def merchant_choice(self, message: ButtonPress, user: User) -> list[Out] | None:
        """Rating and reopen buttons; None when the choice is not about a ticket."""
        parsed = ticket_choice(message.choice)
        if parsed is None:
            return None
        action, ticket_id, value = parsed
        ticket = await self.store.tickets.get(ticket_id)
        if ticket is None or ticket.user_id != user.id:  # never another merchant's ticket
            return [self._reply("ticket_not_yours", user.language, message.chat_id)]
        if action == "rate" and value is not None:
            return await self.rate(ticket, user, value)
        if action == "reopen":
            outputs = await self.reopen(ticket, user)
            if ticket.state == "open":
                outputs += await self._relay_offered_messages(ticket)
            return outputs
        return [self._reply("ticket_not_yours", user.language, message.chat_id)]

    async def reopen_offer(self, message: Inbound, user: User) -> list[Out] | None:
        """The first message within 24 h of a close gets an offer to reopen, not a silent reopening."""
        if isinstance(message, (Command, ButtonPress)):
            return None
        ticket = await self.store.tickets.last_closed(message.chat_id)
        if ticket is None or ticket.closed_at is None or self.now - ticket.closed_at > timedelta(hours=24):
            return None
        if ticket.close_reason == "withdrawn":
            return None
        events = await self.store.tickets.events(ticket.id)
        if any(e.event == "reopen_offered" and e.at >= ticket.closed_at for e in events):
            return None
        await self.store.tickets.add_event(ticket_id=ticket.id, event="reopen_offered", state=ticket.state,
                                          actor_id=user.id, detail={"message_ids": list(message.message_ids)},
                                          now=self.now)
        return [self._to_merchant("reopen_offer", ticket, buttons=[[f"reopen.{ticket.id}"], ["menu"]])]

    async def _relay_offered_messages(self, ticket: Ticket) -> list[Out]:
        """The message that prompted the reopen offer goes to the topic too: nothing is lost."""
        offered = [e for e in await self.store.tickets.events(ticket.id) if e.event == "reopen_offered"]
        ids = tuple(offered[-1].detail.get("message_ids", [])) if offered else ()
        if not ids or self.config.chat_id is None:
            return []
        return [Copy(ticket.id, ticket.chat_id, ids, self.config.chat_id, ticket.topic_id)]

    async def ticket_list(self, user: User, chat_id: int) -> Reply:
        tickets = [self._view(t) for t in await self.store.tickets.all(user.id)]
        shown = tickets[-LIST_LIMIT:]  # the latest; a phone screen, and Telegram's limit
        return self._reply("tickets_list", user.language, chat_id, tickets=shown, more=len(tickets) - len(shown))

    # -- the staff's side ------------------------------------------------------------------------------
    async def staff_event(self, message: Inbound, actor: User) -> list[Out]:
        """Anything in the support group: commands, card buttons, replies to merchants, topic changes."""
        ticket = await self.store.tickets.by_topic(message.thread_id) if message.thread_id else None
        if isinstance(message, (TopicClosed, TopicReopened)):
            return await self._topic_service(message, actor, ticket)
        command: str | None = None
        args = ""
        if isinstance(message, ButtonPress):
            parsed = ticket_choice(message.choice)
            if parsed is None:
                return []  # some other button pressed in the group: nothing to relay
            ticket = await self.store.tickets.get(parsed[1])
            command = parsed[0]
        elif isinstance(message, Command):
            command, args = message.name, message.args
        if command is None and (text_of(message).startswith("//") or not message.message_ids or ticket is None):
            return []  # internal notes stay in the topic; chatter outside ticket topics is not ours
        if command is not None and command not in STAFF_COMMANDS:
            return []  # commands for other bots or people
        if command == "note":
            return []
        if actor.role not in STAFF_ROLES:
            logger.warning("user %s (%s) tried %s in the support group", actor.id, actor.role, command or "to reply")
            return [self._staff("staff_only", ticket, thread_id=message.thread_id)]  # nothing changed before this
        if (isinstance(message, ButtonPress) and ticket is not None and ticket.card_message_id is None
                and message.message_id is not None and ticket.topic_id in (None, message.thread_id)):
            ticket.card_message_id = message.message_id  # its card, pressed before the card's id was reported
        if command == "queue":
            return [await self._queue(message.thread_id)]
        if command == "lookup":
            return [await self._lookup(args, message.thread_id)]
        if ticket is None:
            if command is not None:
                return [self._staff("ticket_not_here", None, thread_id=message.thread_id, command=command)]
            return []
        if command == "claim":
            return await self.claim(ticket, actor)
        if command == "close":
            return await self.close(ticket, actor, args.strip())
        if command == "reopen":
            return await self.reopen(ticket, actor)
        if command == "reply":
            return await self._canned(ticket, args.strip())
        if ticket.state not in ACTIVE:
            return [self._staff("ticket_is_closed", ticket)]
        if isinstance(message, (Text, FileSent)) and message.edited:
            return await self._carry_edit(ticket, message)
        reply_to = (await self.store.tickets.counterpart(ticket.id, message.chat_id, message.reply_to)
                    if message.reply_to else None)
        return [Copy(ticket.id, message.chat_id, message.message_ids, ticket.chat_id, None, reply_to)]

    async def _topic_service(self, message: TopicClosed | TopicReopened, actor: User,
                             ticket: Ticket | None) -> list[Out]:
        """A topic closed or reopened by hand in Telegram."""
        if ticket is None:
            return []
        if isinstance(message, TopicClosed) and ticket.state in ACTIVE:
            return await self.close(ticket, actor, "", by_topic=True)
        if isinstance(message, TopicReopened) and ticket.state == "closed":
            return await self.reopen(ticket, actor, by_topic=True)
        return []

    async def _queue(self, thread_id: int | None) -> Reply:
        queue = await self.store.tickets.queue()
        waiting = [{**self._view(t), "waiting_minutes": int((self.now - t.created_at).total_seconds() // 60)}
                   for t in queue[:LIST_LIMIT]]  # the longest waiting first
        return self._staff("queue_list", None, thread_id=thread_id, waiting=waiting, more=len(queue) - len(waiting))

    async def _lookup(self, args: str, thread_id: int | None) -> Reply:
        parts = [compact(part) for part in args.split()]
        number = parts[-1] if parts else ""
        invoices = await self.store.invoices.by_number(number) if number else []
        if len(parts) > 1:
            invoices = [i for i in invoices if i.code == parts[0]]
        return self._staff("lookup_record", None, thread_id=thread_id, query=args.strip(),
                           invoices=[invoice_summary(i) for i in invoices])

    async def _canned(self, ticket: Ticket, key: str) -> list[Out]:
        keys = sorted(k.removeprefix("canned_") for k in self.renderer.keys(ticket.language) if k.startswith("canned_"))
        if key not in keys:
            return [self._staff("canned_unknown", ticket, key=key, keys=keys)]
        if ticket.state not in ACTIVE:
            return [self._staff("ticket_is_closed", ticket)]
        return [self._to_merchant(f"canned_{key}", ticket), self._staff("canned_sent", ticket, key=key)]

    # -- what the transport did -------------------------------------------------------------------------
    async def topic_opened(self, topic: OpenTopic, thread_id: int | None, message_ids: Sequence[int]) -> list[Out]:
        """A ticket's topic was created: its id, the card's, and the copies made into it.

        Whatever Telegram did not take after creating the topic (the card, copies) is sent into the
        topic now, instead of opening yet another topic.
        """
        ticket = await self.store.tickets.get(topic.ticket_id)
        if ticket is None or thread_id is None:
            return []
        was_refused = await self._waiting_for_rights(ticket)
        events = await self.store.tickets.events(ticket.id)
        since = max((i for i, e in enumerate(events) if e.event in ("topic", "topic_lost")), default=-1)
        held = [Copy(ticket.id, copy[0], tuple(copy[1]), topic.chat_id, thread_id, copy[2])
                for e in events[since + 1:] if e.event == "copy_held" for copy in e.detail.get("copies", [])]
        ticket.topic_id = thread_id
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic", state=ticket.state, actor_id=None,
                                          detail={"topic_id": thread_id}, now=self.now)
        ids = list(message_ids)
        owed: list[Out] = []
        if ids:
            ticket.card_message_id = ids.pop(0)
        else:
            logger.warning("ticket %s: the card was not posted in topic %s; posting it again", ticket.id, thread_id)
            owed.append(dataclasses.replace(topic.card, thread_id=thread_id, outbox_id=None))
        for copy in topic.then:
            copied, ids = ids[:len(copy.message_ids)], ids[len(copy.message_ids):]
            placed = dataclasses.replace(copy, thread_id=thread_id, outbox_id=None)
            if len(copied) == len(copy.message_ids):
                await self.relayed(placed, copied)
            else:
                owed.append(placed)
        owed += held  # messages that came while the topic waited for its turn
        if was_refused:  # the rights are back: every ticket still waiting gets its topic now
            owed += await self._topics_to_retry(all_waiting=True)
        return owed

    async def relayed(self, copy: Copy, message_ids: Sequence[int]) -> None:
        """Remember which copy is which message, for replies and edits across the two chats."""
        await self.store.tickets.add_relayed(ticket_id=copy.ticket_id, source_chat_id=copy.from_chat_id,
                                     pairs=list(zip(copy.message_ids, message_ids)), copy_chat_id=copy.to_chat_id,
                                     now=self.now)

    async def topic_lost(self, copy: Copy, *, gone: bool) -> list[Out]:
        """A copy for the support group found no topic: into the ticket's topic if one is known by now,
        else (the topic was deleted, or never made) a new topic with the card, the copy made into it."""
        ticket = await self.store.tickets.get(copy.ticket_id)
        if ticket is None or self.config.chat_id is None:
            return []
        if not gone and ticket.topic_id is not None:
            return [dataclasses.replace(copy, thread_id=ticket.topic_id, outbox_id=None)]
        if not gone and await self._waiting_for_rights(ticket):  # held for the topic the ticket will get
            await self.store.tickets.add_event(ticket_id=ticket.id, event="copy_waiting", state=ticket.state,
                                              actor_id=None, detail={"copies": [_held(copy)]}, now=self.now)
            return []
        if not gone and await self.store.outbox.topic_owed(ticket.id, self.config.chat_id):
            # its topic waits for the support group's turn (sent by another process, say): held for it, not a
            # second topic
            await self.store.tickets.add_event(ticket_id=ticket.id, event="copy_held", state=ticket.state,
                                              actor_id=None, detail={"copies": [_held(copy)]}, now=self.now)
            return []
        lost = ticket.topic_id
        ticket.topic_id, ticket.card_message_id = None, None
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic_lost", state=ticket.state, actor_id=None,
                                          detail={"topic_id": lost}, now=self.now)
        logger.warning("topic %s of ticket %s is gone; opening a new one", lost, ticket.id)
        return [OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket), await self.card(ticket),
                          then=(dataclasses.replace(copy, thread_id=None, outbox_id=None),))]

    async def topic_refused(self, topic: OpenTopic, error: str) -> list[Out]:
        """The bot may not create topics: the ticket stays queued, its merchant is told once, the admins
        when the first ticket is refused; what was bound for the topic is held, and tried again later."""
        ticket = await self.store.tickets.get(topic.ticket_id)
        if ticket is None or ticket.state not in ACTIVE or ticket.topic_id is not None:
            return []
        told = any(e.event == "topic_refused" for e in await self.store.tickets.events(ticket.id))
        others = [t for t in await self.store.tickets.without_topic() if t.id != ticket.id]
        first = not any([await self._waiting_for_rights(t) for t in others])
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic_refused", state=ticket.state,
                                          actor_id=None, detail={"error": error[:300],
                                                                 "copies": [_held(c) for c in topic.then]},
                                          now=self.now)
        logger.error("ticket %s: the support group refused a topic (%s); it waits", ticket.id, error)
        outputs: list[Out] = [] if told else [self._to_merchant("ticket_waiting_rights", ticket)]
        if first and not told:
            outputs += [self._reply("support_rights_admin", admin.language, admin.id)
                        for admin in await self.store.users.admins()]
        return outputs

    async def _waiting_for_rights(self, ticket: Ticket) -> bool:
        """Whether the ticket's topic was refused (and is being tried again) rather than never asked for."""
        related = [e for e in await self.store.tickets.events(ticket.id) if e.event in TOPIC_EVENTS]
        return bool(related) and related[-1].event in ("topic_refused", "topic_retry", "copy_waiting")

    async def _retry_topic(self, ticket: Ticket) -> OpenTopic:
        """The topic asked for again, with every message held for it since it was refused."""
        assert self.config.chat_id is not None
        events = await self.store.tickets.events(ticket.id)
        since = max((i for i, e in enumerate(events) if e.event in ("topic", "topic_lost")), default=-1)
        copies = tuple(Copy(ticket.id, held[0], tuple(held[1]), self.config.chat_id, None, held[2])
                       for e in events[since + 1:] if e.event in ("topic_refused", "copy_waiting")
                       for held in e.detail.get("copies", []))
        await self.store.tickets.add_event(ticket_id=ticket.id, event="topic_retry", state=ticket.state,
                                          actor_id=None, detail={"copies": len(copies)}, now=self.now)
        return OpenTopic(ticket.id, self.config.chat_id, self.topic_name(ticket), await self.card(ticket),
                         then=copies)

    async def _topics_to_retry(self, *, all_waiting: bool) -> list[Out]:
        """Tickets whose topic was refused: the oldest tried again a minute after; all once one got through."""
        outputs: list[Out] = []
        for ticket in await self.store.tickets.without_topic():
            related = [e for e in await self.store.tickets.events(ticket.id) if e.event in TOPIC_EVENTS]
            if not related or related[-1].event not in ("topic_refused", "copy_waiting"):
                continue  # never refused, or being tried right now
            refused_at = max(e.at for e in related if e.event == "topic_refused")
            if all_waiting or refused_at <= self.now - TOPIC_RETRY:
                outputs.append(await self._retry_topic(ticket))
                if not all_waiting:
                    break  # one probe at a time while the rights are missing
        return outputs

    async def merchant_unreachable(self, ticket_id: int) -> list[Out]:
        ticket = await self.store.tickets.get(ticket_id)
        if ticket is None:
            return []
        await self.store.users.set_unreachable(ticket.user_id)
        if self.config.chat_id is None:
            return []
        return [self._staff("merchant_unreachable", ticket)]

    async def due(self) -> list[Out]:
        """Tickets nobody claimed in time, announced again in the general topic."""
        if self.config.chat_id is None:
            return []
        outputs: list[Out] = []
        for ticket in await self.store.tickets.due_escalations(self.now):
            ticket.escalations += 1
            more = ticket.escalations < self.config.max_escalations
            ticket.escalate_at = self.now + self.config.claim_timeout if more else None
            waited = int((self.now - ticket.created_at).total_seconds() // 60)
            await self.store.tickets.add_event(ticket_id=ticket.id, event="escalated", state=ticket.state,
                                              actor_id=None, detail={"waited_minutes": waited}, now=self.now)
            outputs.append(self._staff("ticket_waiting", None, thread_id=None, waited=waited,
                                       waiting_ticket=self._view(ticket), topic_id=ticket.topic_id))
        return outputs + await self._topics_to_retry(all_waiting=False)


def _held(copy: Copy) -> list[Any]:
    """A copy bound for a topic that does not exist yet, as stored in a ticket event."""
    return [copy.from_chat_id, list(copy.message_ids), copy.reply_to]


def text_of(message: Inbound) -> str:
    """The text a message carries: a text's, a file's caption, or none."""
    if isinstance(message, Text):
        return message.text
    if isinstance(message, FileSent):
        return message.caption or ""
    return ""
