"""The troubleshooting flow: the checks an experienced support agent makes, as a table.

The `check` trigger leaves the transient `checking` state by the first transition whose
conditions hold: the order of that list *is* the decision tree. Facts come from the port.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from transitions.extensions.asyncio import AsyncEventData

from assistant.domain.extract import extract, names_an_invoice
from assistant.domain.knowledge import match_question, small_talk
from assistant.domain.identifiers import Problem, cross_check, family_of, fourth_field, validate_date
from flows.base import FlowModel, FlowSpec

logger = logging.getLogger(__name__)

NEXT_STEPS = [["find"], ["human", "menu"]]

# state -> buttons under its prompt
PROMPT_BUTTONS: dict[str, list[list[str]]] = {
    "menu": [["find"], ["status", "human"], ["help", "lang"]],
    "collecting": [["menu"]],
    "maintenance": [["notify"], *NEXT_STEPS],
    "no_permission": [["access"], *NEXT_STEPS],
    "bad_status": NEXT_STEPS,
    "mismatch": NEXT_STEPS,
    "pending_sync": [["later"], *NEXT_STEPS],
    "found": NEXT_STEPS,
    "too_recent": [["later"], *NEXT_STEPS],
    "other_region": NEXT_STEPS,
    "near_match": [["yes", "no"], ["menu"]],
    "handoff": [["find", "menu"]],
    "confirm_read": [["yes", "no"], ["menu"]],
    "limited": [["human", "menu"]],
}

OUTCOMES = ["limited", "maintenance", "no_permission", "bad_status", "mismatch", "pending_sync", "found",
            "too_recent", "other_region", "near_match"]
RESTING = ["menu", *OUTCOMES, "handoff", "confirm_read"]

# One callback per hook: AsyncMachine runs the callbacks of a list concurrently, not in order.
_OUTCOME_STATE = {"name": "", "on_enter": "enter_outcome"}

TROUBLESHOOT = FlowSpec(
    name="troubleshoot",
    initial="menu",
    states=[
        {"name": "menu", "on_enter": "prompt"},
        {"name": "collecting", "on_enter": "advance"},
        {"name": "checking", "on_enter": "diagnose"},
        *({**_OUTCOME_STATE, "name": name} for name in OUTCOMES),
        {"name": "handoff", "on_enter": "open_ticket"},
        {"name": "confirm_read", "on_enter": "prompt"},
    ],
    transitions=[
        {"trigger": "menu", "source": "*", "dest": "menu", "before": "forget_invoice"},
        {"trigger": "find", "source": "*", "dest": "collecting", "before": "forget_invoice"},
        # Text while collecting: take in what it holds, then ask for the rest or check.
        {"trigger": "provide", "source": "collecting", "dest": None, "before": "absorb", "after": "advance"},
        # Text elsewhere that names an invoice starts a fresh check with it.
        {"trigger": "provide", "source": RESTING, "dest": "collecting", "conditions": "names_an_invoice",
         "before": "start_with_text"},
        {"trigger": "provide", "source": RESTING, "dest": None, "after": "not_understood"},
        {"trigger": "submit", "source": "collecting", "dest": "checking", "conditions": "fields_complete"},
        # A lookup promised for later ("notify me", "check again later") is run again from a resting state.
        {"trigger": "recheck", "source": RESTING, "dest": "checking", "before": "adopt_fields"},
        # The decision tree, in order.
        {"trigger": "check", "source": "checking", "dest": "limited", "conditions": "over_limit"},
        {"trigger": "check", "source": "checking", "dest": "maintenance", "conditions": "in_maintenance"},
        {"trigger": "check", "source": "checking", "dest": "no_permission", "conditions": "found",
         "unless": "permitted"},
        {"trigger": "check", "source": "checking", "dest": "bad_status", "conditions": ["found", "bad_status"]},
        {"trigger": "check", "source": "checking", "dest": "mismatch", "conditions": ["found", "fields_differ"]},
        {"trigger": "check", "source": "checking", "dest": "pending_sync", "conditions": ["found", "pending"]},
        {"trigger": "check", "source": "checking", "dest": "found", "conditions": "found"},
        {"trigger": "check", "source": "checking", "dest": "other_region", "conditions": "outside_beijing"},
        {"trigger": "check", "source": "checking", "dest": "too_recent", "conditions": "within_sync_delay"},
        {"trigger": "check", "source": "checking", "dest": "near_match", "conditions": "near_match_exists"},
        {"trigger": "check", "source": "checking", "dest": "handoff", "before": "mark_not_found"},
        # Identifiers read from a photo or a file: shown for confirmation, then used as if typed.
        {"trigger": "read", "source": [*RESTING, "collecting"], "dest": "confirm_read", "before": "hold_read"},
        {"trigger": "yes", "source": "confirm_read", "dest": "collecting", "before": "adopt_read"},
        {"trigger": "no", "source": "confirm_read", "dest": "collecting", "before": "forget_invoice"},
        # Answers to an outcome's offer.
        {"trigger": "yes", "source": "near_match", "dest": "checking", "before": "adopt_near_match"},
        {"trigger": "no", "source": "near_match", "dest": "handoff", "before": "mark_not_found"},
        {"trigger": "notify", "source": "maintenance", "dest": None, "after": "subscribe_maintenance"},
        {"trigger": "later", "source": ["pending_sync", "too_recent"], "dest": None, "after": "subscribe_recheck"},
        {"trigger": "access", "source": "no_permission", "dest": None, "after": "request_access"},
        # Available everywhere.
        {"trigger": "human", "source": "*", "dest": "handoff", "unless": "ticket_open"},
        {"trigger": "human", "source": "handoff", "dest": None, "after": "prompt"},
        {"trigger": "status", "source": "*", "dest": None, "after": "show_status"},
        {"trigger": "help", "source": "*", "dest": None, "after": "show_help"},
        {"trigger": "lang", "source": "*", "dest": None, "after": "switch_language"},
    ],
)


@dataclass
class Facts:
    """What the checks found, gathered by the port in the order the flow needs them."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    limited: dict[str, Any] | None = None
    maintenance: dict[str, Any] | None = None
    invoice: dict[str, Any] | None = None
    permitted: bool = False
    mismatches: list[dict[str, Any]] = field(default_factory=list)
    pending: dict[str, Any] | None = None
    region: dict[str, Any] | None = None
    recent: dict[str, Any] | None = None
    near: dict[str, Any] | None = None


class TroubleshootPorts(Protocol):
    """What the flow needs from the world; the core implements it over the store."""

    max_years: int
    max_failures: int

    def today(self) -> date: ...
    async def diagnose(self, fields: dict[str, str]) -> Facts: ...
    async def record_outcome(self, outcome: str, fields: dict[str, str]) -> None: ...
    async def open_ticket(self, reason: str, fields: dict[str, str],
                          checks: list[dict[str, Any]]) -> dict[str, Any]: ...
    async def subscribe_maintenance(self, fields: dict[str, str]) -> dict[str, Any] | None: ...
    async def subscribe_recheck(self, fields: dict[str, str], due_at: str) -> bool: ...
    async def request_access(self, invoice_id: int) -> bool: ...
    async def system_status(self) -> dict[str, Any]: ...
    async def set_language(self, language: str) -> None: ...


def _ev_text(event: AsyncEventData) -> str:
    return str(event.kwargs.get("text", ""))


class Troubleshoot(FlowModel):
    """A merchant's conversation, attached to the shared machine for one event."""

    def __init__(self, state: str, data: dict[str, Any], ports: TroubleshootPorts, language: str) -> None:
        super().__init__(state, data)
        self.ports = ports
        self.language = language
        self.facts = Facts()
        self.problems: list[Problem] = []

    # -- collected data -------------------------------------------------------------------
    @property
    def fields(self) -> dict[str, str]:
        return self.data.setdefault("fields", {})

    def missing(self) -> list[str]:
        """Fields still needed, in the order they are asked for."""
        fields = self.fields
        family = family_of(fields.get("code"), fields.get("number"))
        needed: list[str] = []
        if "number" not in fields:
            needed.append("number")
        if family != "digital" and "code" not in fields:
            needed.append("code")
        if "date" not in fields:
            needed.append("date")
        fourth = fourth_field(family)
        if fourth is None or fourth not in fields:
            needed.append(fourth or "fourth")
        return needed

    # -- conditions -------------------------------------------------------------------------
    def names_an_invoice(self, event: AsyncEventData) -> bool:
        return names_an_invoice(_ev_text(event), today=self.ports.today(), max_years=self.ports.max_years)

    def fields_complete(self, event: AsyncEventData) -> bool:
        return not self.missing()

    def over_limit(self, event: AsyncEventData) -> bool:
        return self.facts.limited is not None

    def in_maintenance(self, event: AsyncEventData) -> bool:
        return self.facts.maintenance is not None

    def found(self, event: AsyncEventData) -> bool:
        return self.facts.invoice is not None

    def permitted(self, event: AsyncEventData) -> bool:
        return self.facts.permitted

    def bad_status(self, event: AsyncEventData) -> bool:
        return bool(self.facts.invoice and self.facts.invoice["status"] != "normal")

    def fields_differ(self, event: AsyncEventData) -> bool:
        return bool(self.facts.mismatches)

    def pending(self, event: AsyncEventData) -> bool:
        return self.facts.pending is not None

    def outside_beijing(self, event: AsyncEventData) -> bool:
        return self.facts.region is not None

    def within_sync_delay(self, event: AsyncEventData) -> bool:
        return self.facts.recent is not None

    def near_match_exists(self, event: AsyncEventData) -> bool:
        return self.facts.near is not None

    def ticket_open(self, event: AsyncEventData) -> bool:
        return self.state == "handoff"

    # -- actions ----------------------------------------------------------------------------
    def forget_invoice(self, event: AsyncEventData) -> None:
        for key in ("fields", "failures", "warned", "result", "checks", "near", "awaiting", "ticket_id", "ticket", "access", "read"):
            self.data.pop(key, None)

    def absorb(self, event: AsyncEventData) -> None:
        """Take every field the message holds; remember problems and failures per field."""
        awaiting = self.data.get("awaiting")
        text = _ev_text(event)
        if not any(char.isdigit() for char in text) and (topic := match_question(text)) is not None:
            self.problems = [Problem(f"kb_{topic}", "", {})]  # a question, not an answer: reply, ask again
            return
        found = extract(text, awaiting=awaiting, known=self.fields, today=self.ports.today(),
                        max_years=self.ports.max_years)
        if "number" in found.values and len(found.values["number"]) == 20:
            self.fields.pop("code", None)  # a 数电 number identifies the invoice alone
        self.fields.update(found.values)
        failures: dict[str, int] = self.data.setdefault("failures", {})
        for problem in found.problems:
            if not problem.soft:
                failures[problem.field] = failures.get(problem.field, 0) + 1
        for name in found.values:
            failures.pop(name, None)
        warned: list[str] = self.data.setdefault("warned", [])
        warnings = [p for p in [*found.problems, *cross_check(self.fields)] if p.soft]
        fresh = [p for p in warnings if p.code not in warned]
        warned.extend(p.code for p in fresh)
        self.problems = [p for p in found.problems if not p.soft] + fresh
        if not found.found_anything:
            topic = match_question(_ev_text(event))
            if topic is not None:  # a question while collecting: answer it, then ask again
                self.problems.append(Problem(f"kb_{topic}", "", {}))
            else:
                self.problems.append(Problem("nothing_found", awaiting or "", {"text": _ev_text(event)[:200]}))
        for token in found.unplaced:
            self.problems.append(Problem("unplaced", "", {"value": token}))
        if found.set_aside:
            self.problems.append(Problem("set_aside", "", {"values": found.set_aside}))

    async def advance(self, event: AsyncEventData) -> None:
        """Report problems, then check if everything is here, else ask for the next field."""
        for problem in self.problems:
            key = problem.code if problem.code.startswith("kb_") else f"problem_{problem.code}"
            self.say(key, field=problem.field, **problem.params)
        self.problems = []
        if not self.missing():
            self.data.pop("awaiting", None)
            await self.trigger("submit")  # type: ignore[attr-defined]
            return
        self.data["awaiting"] = self.missing()[0]
        self._ask()

    def _ask(self) -> None:
        missing = self.missing()
        failures = self.data.get("failures", {})
        stuck = any(count >= self.ports.max_failures for count in failures.values())
        family = family_of(self.fields.get("code"), self.fields.get("number"))
        buttons = [["human", "menu"]] if stuck else PROMPT_BUTTONS["collecting"]
        self.say("ask", buttons=buttons, missing=missing[0], fields=dict(self.fields), family=family,
                 stuck=stuck)

    async def diagnose(self, event: AsyncEventData) -> None:
        self.facts = await self.ports.diagnose(dict(self.fields))
        self.data["checks"] = self.facts.checks
        facts = self.facts
        self.data["result"] = {
            "limited": facts.limited,
            "invoice": facts.invoice if facts.permitted else None,
            "maintenance": facts.maintenance,
            "mismatches": facts.mismatches,
            "pending": facts.pending,
            "region": facts.region,
            "recent": facts.recent,
            "near": facts.near,
        }
        self.data["near"] = facts.near
        if facts.invoice is not None and not facts.permitted:
            self.data["access"] = {"invoice_id": facts.invoice["id"]}  # kept for the request, never shown
        await self.trigger("check")  # type: ignore[attr-defined]

    def adopt_near_match(self, event: AsyncEventData) -> None:
        near = self.data.get("near") or {}
        if near.get("code") is not None:
            self.fields["code"] = near["code"]
        self.fields["number"] = near.get("number", self.fields.get("number", ""))
        if not self.fields.get("code"):
            self.fields.pop("code", None)

    def mark_not_found(self, event: AsyncEventData) -> None:
        self.data["ticket_reason"] = "not_found"

    def hold_read(self, event: AsyncEventData) -> None:
        self.forget_invoice(event)
        self.data["read"] = dict(event.kwargs.get("fields") or {})

    def _read_too_old(self) -> dict[str, object] | None:
        """Why the date read from a document cannot be verified (past the window), if it cannot."""
        issued = self.data.get("read", {}).get("date")
        if not issued:
            return None
        _, problems = validate_date(issued, self.ports.today(), self.ports.max_years)
        return next((p.params for p in problems if p.code == "date_too_old"), None)

    def adopt_read(self, event: AsyncEventData) -> None:
        too_old = self._read_too_old()
        read = self.data.pop("read", {})
        self.forget_invoice(event)
        self.data["fields"] = dict(read)
        self.problems = [Problem(p.code, p.field, p.params, soft=True) for p in cross_check(self.fields)]
        if too_old is not None:  # never checked with a date past the window: asked for again
            self.fields.pop("date", None)
            self.problems.append(Problem("date_too_old", "date", too_old))

    def adopt_fields(self, event: AsyncEventData) -> None:
        self.forget_invoice(event)
        self.data["fields"] = dict(event.kwargs.get("fields") or {})

    def start_with_text(self, event: AsyncEventData) -> None:
        self.forget_invoice(event)
        self.absorb(event)

    async def enter_outcome(self, event: AsyncEventData) -> None:
        await self.ports.record_outcome(self.state, dict(self.fields))
        self.prompt(event)

    async def open_ticket(self, event: AsyncEventData) -> None:
        failures = self.data.get("failures", {})
        reason = self.data.pop("ticket_reason", None) or (
            "input_failures" if any(n >= self.ports.max_failures for n in failures.values()) else "requested")
        ticket = await self.ports.open_ticket(reason, dict(self.fields), list(self.data.get("checks", [])))
        if ticket.get("id") is not None:
            self.data["ticket_id"] = ticket["id"]
        self.data["ticket"] = ticket  # or why none was opened (the day's limit)
        rejected = reason == "not_found" and bool(self.data.get("near"))  # "no, not that one"
        self.data["ticket_reason_shown"] = "near_rejected" if rejected else reason
        if reason == "not_found":
            await self.ports.record_outcome("not_found", dict(self.fields))
        self.prompt(event)

    async def subscribe_maintenance(self, event: AsyncEventData) -> None:
        window = await self.ports.subscribe_maintenance(dict(self.fields))
        self.say("notify_saved", buttons=PROMPT_BUTTONS["handoff"], window=window)

    async def subscribe_recheck(self, event: AsyncEventData) -> None:
        result = self.data.get("result") or {}
        expected = (result.get("pending") or result.get("recent") or {}).get("expected_at")
        if not expected:
            self.prompt(event)
            return
        fresh = await self.ports.subscribe_recheck(dict(self.fields), expected)
        self.say("recheck_saved", buttons=PROMPT_BUTTONS["handoff"], expected_at=expected, fresh=fresh)

    async def request_access(self, event: AsyncEventData) -> None:
        invoice_id = (self.data.get("access") or {}).get("invoice_id")
        fresh = await self.ports.request_access(int(invoice_id)) if invoice_id else False
        self.say("access_saved", buttons=PROMPT_BUTTONS["handoff"], fresh=fresh)

    async def show_status(self, event: AsyncEventData) -> None:
        self.say("system_status", **await self.ports.system_status())
        self.reprompt(event)

    def show_help(self, event: AsyncEventData) -> None:
        self.say("help")
        self.reprompt(event)

    async def switch_language(self, event: AsyncEventData) -> None:
        self.language = "en" if self.language == "zh" else "zh"
        await self.ports.set_language(self.language)
        self.say("language_switched")
        self.reprompt(event)

    def reprompt(self, event: AsyncEventData) -> None:
        """After an aside: what the state asks, except an outcome, which would repeat facts that may be stale
        (a maintenance since ended or extended); the menu's choices instead."""
        if self.state in OUTCOMES:
            self.say("state_menu", buttons=PROMPT_BUTTONS["menu"])
            return
        self.prompt(event)

    def not_understood(self, event: AsyncEventData) -> None:
        """A question gets its answer and the menu; anything else an honest "I did not understand"."""
        chat = small_talk(_ev_text(event))
        if chat is not None:  # a greeting or thanks gets a word back, not "I did not understand"
            self.say(f"chat_{chat}")
            self.prompt(event)
            return
        topic = match_question(_ev_text(event))
        if topic is not None:
            self.say(f"kb_{topic}", buttons=PROMPT_BUTTONS["menu"])
            return
        self.say("not_understood", text=_ev_text(event)[:200])
        self.prompt(event)

    def prompt(self, event: AsyncEventData | None = None) -> None:
        """Say what the current state asks of the user (also used to re-show an expired menu)."""
        if self.state == "collecting":
            self._ask()
            return
        result = self.data.get("result") or {}
        buttons = PROMPT_BUTTONS.get(self.state, NEXT_STEPS)
        if self.state == "handoff" and self.data.get("ticket_id"):  # while a person has it, menus would be dead
            buttons = [[f"withdraw.{self.data['ticket_id']}"]]
        if self.state == "confirm_read":
            too_old = self._read_too_old()
            result = {**result, "too_old": too_old}
            if too_old is not None:  # nothing to check: the date may be misread ("no"), or a person can help
                buttons = [["no"], ["human", "menu"]]
        self.say(f"state_{self.state}", buttons=buttons,
                 fields=dict(self.data.get("fields", {})), ticket_id=self.data.get("ticket_id"),
                 read=dict(self.data.get("read", {})),
                 ticket=self.data.get("ticket"),
                 ticket_reason=self.data.get("ticket_reason_shown"), **result)


STATE_NAMES = TROUBLESHOOT.state_names
CHOICES = {"menu", "find", "human", "status", "help", "lang", "yes", "no", "notify", "later", "access"}
