"""The troubleshooting flow: the checks an experienced support agent makes, as a table.

The `check` trigger leaves the transient `checking` state by the first transition whose
conditions hold: the order of that list *is* the decision tree. Facts come from the port.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from transitions.extensions.asyncio import AsyncEventData

from assistant.domain.extract import Extraction, extract
from assistant.domain.intents import Understood
from assistant.domain.identifiers import LOOKALIKE_DIGITS, Problem, cross_check, family_of, fourth_field, validate_date
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

PICKS = "abc"
"""The buttons of a choice between values offered ("pick.a", "pick.b"…)."""
TOPIC_MINUTES = 30
"""How long a follow-up ("那怎么办", "多久") is taken to be about what the bot just said."""
KNOWLEDGE = frozenset({"not_found", "sync_delay", "input_mistake", "mismatch", "voided", "red_reversed",
                       "out_of_control", "other_region", "not_uploaded", "digital", "deduction", "reissue",
                       "check_limit", "fields", "amount", "too_old"})
"""Intents answered by a topic's explanation (`replies/*/kb_<intent>.j2`)."""
ACTING = {"human": "human", "start_check": "find"}
"""Intents that make the flow act: the trigger each fires."""
ASIDE_TRIGGERS = {"human": "human", "maintenance": "status", "capabilities": "help"}
"""Intents acted on while fields are being collected (the collecting goes on after an aside)."""
FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    "what_now": ("not_found", "sync_delay", "reissue"),
    "how_long": ("sync_delay", "maintenance", "check_limit"),
    "why": ("not_found", "mismatch", "sync_delay"),
}
"""Follow-ups answered by the topic just talked about; without one, the topics offered instead."""
OFFERED = KNOWLEDGE | {"maintenance", "start_check", "capabilities", "complaint", "out_of_scope"}
"""What a "did you mean…" button may name."""
OUTCOME_TOPICS = {"maintenance": "maintenance", "pending_sync": "sync_delay", "too_recent": "sync_delay",
                  "other_region": "other_region", "mismatch": "mismatch", "no_permission": "no_permission",
                  "limited": "check_limit"}
"""The topic a follow-up to an outcome is about (a bad status names its own)."""
TOPIC_BUTTONS: dict[str, list[list[str]]] = {
    "complaint": [["human"], ["find", "menu"]],
    "out_of_scope": [["find", "menu"]],
}

OUTCOMES = ["limited", "maintenance", "no_permission", "bad_status", "mismatch", "pending_sync", "found",
            "too_recent", "other_region", "near_match"]
RESTING = ["menu", *OUTCOMES, "handoff", "confirm_read"]

_DECIDING = ["checking", "concluding"]
"""The transient states the decision tree leaves from: a fresh diagnosis, or its facts after a near match was declined."""

# One callback per hook: AsyncMachine runs the callbacks of a list concurrently, not in order.
_OUTCOME_STATE = {"name": "", "on_enter": "enter_outcome"}

TROUBLESHOOT = FlowSpec(
    name="troubleshoot",
    initial="menu",
    states=[
        {"name": "menu", "on_enter": "prompt"},
        {"name": "collecting", "on_enter": "advance"},
        {"name": "checking", "on_enter": "diagnose"},
        {"name": "concluding", "on_enter": "conclude"},
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
        # After an answer, other fields of the same invoice correct it and check again.
        {"trigger": "provide", "source": OUTCOMES, "dest": "collecting", "conditions": "corrects_fields",
         "before": "correct_fields"},
        # Other text is understood as an intent: answered, acted on, or asked about.
        {"trigger": "provide", "source": RESTING, "dest": None, "after": "respond"},
        # A "did you mean…?" button: the intent it names.
        {"trigger": "ask", "source": "*", "dest": None, "after": "respond"},
        # The answer to "did you mean this value?" while collecting.
        {"trigger": "yes", "source": "collecting", "dest": None, "conditions": "question_pending",
         "before": "accept_value", "after": "advance"},
        {"trigger": "no", "source": "collecting", "dest": None, "conditions": "question_pending",
         "before": "reject_value", "after": "advance"},
        {"trigger": "pick", "source": "collecting", "dest": None, "conditions": "question_pending",
         "before": "accept_value", "after": "advance"},
        {"trigger": "submit", "source": "collecting", "dest": "checking", "conditions": "fields_complete"},
        # A lookup promised for later ("notify me", "check again later") is run again from a resting state.
        {"trigger": "recheck", "source": RESTING, "dest": "checking", "before": "adopt_fields"},
        # The decision tree, in order.
        # The decision tree, in order. Input mistakes come first among the causes of "not found": a near
        # match (one digit off, two swapped, same date and amount) is offered before the region and the
        # sync delay are blamed; "no, not that one" goes on to those ("concluding" keeps the facts).
        {"trigger": "check", "source": _DECIDING, "dest": "limited", "conditions": "over_limit"},
        {"trigger": "check", "source": _DECIDING, "dest": "maintenance", "conditions": "in_maintenance"},
        {"trigger": "check", "source": _DECIDING, "dest": "no_permission", "conditions": "found",
         "unless": "permitted"},
        {"trigger": "check", "source": _DECIDING, "dest": "bad_status", "conditions": ["found", "bad_status"]},
        {"trigger": "check", "source": _DECIDING, "dest": "mismatch", "conditions": ["found", "fields_differ"]},
        {"trigger": "check", "source": _DECIDING, "dest": "pending_sync", "conditions": ["found", "pending"]},
        {"trigger": "check", "source": _DECIDING, "dest": "found", "conditions": "found"},
        {"trigger": "check", "source": _DECIDING, "dest": "near_match", "conditions": "near_match_exists"},
        {"trigger": "check", "source": _DECIDING, "dest": "other_region", "conditions": "outside_beijing"},
        {"trigger": "check", "source": _DECIDING, "dest": "too_recent", "conditions": "within_sync_delay"},
        {"trigger": "check", "source": _DECIDING, "dest": "handoff", "before": "mark_not_found"},
        # Identifiers read from a photo or a file: shown for confirmation, then used as if typed.
        {"trigger": "read", "source": [*RESTING, "collecting"], "dest": "confirm_read", "before": "hold_read"},
        {"trigger": "yes", "source": "confirm_read", "dest": "collecting", "before": "adopt_read"},
        {"trigger": "no", "source": "confirm_read", "dest": "collecting", "before": "forget_invoice"},
        # Answers to an outcome's offer.
        {"trigger": "yes", "source": "near_match", "dest": "checking", "before": "adopt_near_match"},
        {"trigger": "no", "source": "near_match", "dest": "concluding", "before": "reject_near_match"},
        {"trigger": "notify", "source": RESTING, "dest": None, "after": "subscribe_maintenance"},
        {"trigger": "later", "source": ["pending_sync", "too_recent"], "dest": None, "after": "subscribe_recheck"},
        {"trigger": "access", "source": "no_permission", "dest": None, "after": "request_access"},
        # Available everywhere.
        {"trigger": "human", "source": "*", "dest": "handoff", "unless": "ticket_open"},
        {"trigger": "human", "source": "handoff", "dest": None, "after": "prompt"},
        {"trigger": "status", "source": "*", "dest": None, "after": "show_status"},
        {"trigger": "help", "source": "*", "dest": None, "after": "show_help"},
        {"trigger": "lang", "source": "*", "dest": None, "after": "switch_language"},
        # The merchant's ticket, moved by a person: closed (back to the menu) or taken up again.
        {"trigger": "ticket_closed", "source": "*", "dest": "menu", "before": "forget_everything"},
        {"trigger": "ticket_taken_back", "source": "*", "dest": "handoff", "before": "hold_ticket"},
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
    def moment(self) -> datetime: ...
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


_QUESTION = re.compile(r"[?？吗么呢嘛]|多久|多长|几天|怎么|为什么|为啥|咋|啥时候|什么时候|how|why|when|what", re.I)
"""A message that asks something (as well as giving a field): only then is a topic's answer added to it."""


def _understood(event: AsyncEventData) -> Understood:
    """What the text means, worked out only when the flow asks (a message of invoice fields never needs it)."""
    understood = event.kwargs.get("understood")
    if callable(understood):
        understood = understood()
    return understood if isinstance(understood, Understood) else Understood(None)


class Troubleshoot(FlowModel):
    """A merchant's conversation, attached to the shared machine for one event."""

    def __init__(self, state: str, data: dict[str, Any], ports: TroubleshootPorts, language: str) -> None:
        super().__init__(state, data)
        self.ports = ports
        self.language = language
        self.facts = Facts()
        self.problems: list[Problem] = []
        self.then: str | None = None
        """A trigger the text asked for while collecting, fired once the message is taken in."""
        self._read: tuple[tuple[object, ...], Extraction] | None = None

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
        return self._extract(_ev_text(event), None).names_an_invoice

    def _extract(self, text: str, awaiting: str | None) -> Extraction:
        """What the text gives, read once per event for what is known (the condition and the action share it)."""
        key = (text, awaiting, tuple(sorted(self.fields.items())))
        if self._read is None or self._read[0] != key:
            self._read = key, extract(text, awaiting=awaiting, known=dict(self.fields), today=self.ports.today(),
                                      max_years=self.ports.max_years)
        return self._read[1]

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
        return self.facts.near is not None and not self.data.get("near_rejected")

    def ticket_open(self, event: AsyncEventData) -> bool:
        return self.state == "handoff"

    # -- actions ----------------------------------------------------------------------------
    def forget_everything(self, event: AsyncEventData) -> None:
        self.data.clear()

    def hold_ticket(self, event: AsyncEventData) -> None:
        """The ticket a person has again: its id for the withdraw button."""
        self.data["ticket_id"] = event.kwargs["ticket_id"]

    def forget_invoice(self, event: AsyncEventData) -> None:
        for key in ("fields", "failures", "warned", "result", "checks", "near", "awaiting", "ticket_id", "ticket",
                    "access", "read", "read_via", "questions", "inferred", "near_rejected", "topic"):
            self.data.pop(key, None)

    def absorb(self, event: AsyncEventData) -> None:
        """Take every field the message clearly gives; what it may mean is asked; problems are kept per field."""
        awaiting = self.data.get("awaiting")
        found = self._extract(_ev_text(event), awaiting)
        if not found.found_anything:
            self.problems = []
            self._answer_aside(_understood(event), awaiting)
            return
        if "number" in found.values and len(found.values["number"]) == 20:
            self.fields.pop("code", None)  # a 数电 number identifies the invoice alone
        self.fields.update(found.values)
        inferred: dict[str, str] = self.data.setdefault("inferred", {})
        for name in found.values:
            inferred.pop(name, None)
        inferred.update(found.inferred)
        failures: dict[str, int] = self.data.setdefault("failures", {})
        for problem in found.problems:
            if not problem.soft:
                failures[problem.field] = failures.get(problem.field, 0) + 1
        for name in found.values:
            failures.pop(name, None)
        warned: list[str] = self.data.setdefault("warned", [])
        asked_about = {q.field for q in found.questions if q.reason == "lookalike"}
        warnings = [p for p in [*found.problems, *cross_check(self.fields)]  # the question names the letters
                    if p.soft and not (p.code == "lookalike_letters" and p.field in asked_about)]
        fresh = [p for p in warnings if p.code not in warned]
        warned.extend(p.code for p in fresh)
        self.problems = [p for p in found.problems if not p.soft] + fresh
        fresh_questions = [dataclasses.asdict(q) for q in found.questions if q.field not in found.values]
        asked = {q["field"] for q in fresh_questions} | set(found.values)
        questions = [q for q in self.data.get("questions", []) if q["field"] not in asked] + fresh_questions
        self.data.pop("questions", None)
        if questions:  # a field given or asked again replaces what was asked about it before
            self.data["questions"] = questions
        for token in found.unplaced:
            self.problems.append(Problem("unplaced", "", {"value": token}))
        if found.set_aside:
            self.problems.append(Problem("set_aside", "", {"values": found.set_aside}))
        if ("code" not in found.values and "number" not in found.values and not found.problems
                and _QUESTION.search(_ev_text(event)) and (intent := _understood(event).intent) in KNOWLEDGE):
            # "今天开的发票多久能查到": the date is taken, and the question answered too
            self.problems.insert(0, Problem(f"kb_{intent}", "", {}))

    def _answer_aside(self, understood: Understood, awaiting: str | None) -> None:
        """Text without fields while collecting: an action, an answer, or why nothing was taken."""
        intent = understood.intent
        if intent in ASIDE_TRIGGERS:
            self.then = ASIDE_TRIGGERS[intent]
        elif intent in KNOWLEDGE or intent in ("complaint", "out_of_scope"):
            self.problems.append(Problem(f"kb_{intent}", "", {}))
        elif intent not in ("greeting", "ok", "thanks", "start_check", "what_now"):  # those: the question again
            self.problems.append(Problem("nothing_found", awaiting or "", {}))

    def question_pending(self, event: AsyncEventData) -> bool:
        return bool(self.data.get("questions"))

    def asks_yes_or_no(self) -> bool:
        """Whether the last thing asked can be answered by a typed yes or no."""
        questions = self.data.get("questions") or []
        return self.state in ("near_match", "confirm_read") or (
            self.state == "collecting" and bool(questions) and not questions[0].get("options"))

    def corrects_fields(self, event: AsyncEventData) -> bool:
        """After an answer, text that gives other fields of the same invoice ("日期应该是 2026-05-16")."""
        if self.state not in OUTCOMES or not self.fields:
            return False
        found = self._extract(_ev_text(event), None)
        return bool(found.values or found.questions)

    def correct_fields(self, event: AsyncEventData) -> None:
        """The invoice's fields kept, the new ones taken in, and checked again."""
        for key in ("result", "checks", "near", "near_rejected", "access", "topic", "warned"):
            self.data.pop(key, None)
        self.absorb(event)

    def accept_value(self, event: AsyncEventData) -> None:
        """"Yes, that is what I meant" (or one of the offered values): the value is taken, said as taken."""
        question = self.data["questions"].pop(0)
        if not self.data["questions"]:
            self.data.pop("questions")
        options = question.get("options") or []
        index = int(event.kwargs.get("index", 0))
        value = options[index] if options and 0 <= index < len(options) else question["value"]
        name = question["field"]
        if name == "date":  # a date worked out from a day or a short year may be past the window
            value, problems = validate_date(value, self.ports.today(), self.ports.max_years)
            if value is None:
                self.problems = problems
                return
        self.fields[name] = value
        if name == "number" and len(value) == 20:
            self.fields.pop("code", None)  # a 数电 number identifies the invoice alone
        self.data.setdefault("failures", {}).pop(name, None)
        self.data.setdefault("inferred", {}).pop(name, None)

    def reject_value(self, event: AsyncEventData) -> None:
        """"No": the value is not taken; the field is asked for again, with why."""
        question = self.data["questions"].pop(0)
        if not self.data["questions"]:
            self.data.pop("questions")
        self.problems = [Problem("value_rejected", question["field"], {"reason": question["reason"]})]

    async def advance(self, event: AsyncEventData) -> None:
        """Report problems, then check if everything is here, else ask for the next field."""
        for problem in self.problems:
            key = problem.code if problem.code.startswith("kb_") else f"problem_{problem.code}"
            self.say(key, (), **{"field": problem.field, **problem.params})
        self.problems = []
        if self.then is not None:  # an action the text asked for ("转人工"), taken instead of asking again
            then, self.then = self.then, None
            await self.trigger(then)  # type: ignore[attr-defined]
            return
        if self.data.get("questions"):
            self._ask_about(self.data["questions"][0])
            return
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
                 stuck=stuck, inferred=dict(self.data.get("inferred", {})))

    def _ask_about(self, question: dict[str, Any]) -> None:
        """"Is “3” the 3rd (2026-06-03)?": what was understood, shown, and asked with buttons."""
        options = question.get("options") or []
        buttons = [[f"pick.{letter}" for letter in PICKS[:len(options)]]] if options else [["yes", "no"]]
        letters = list(dict.fromkeys(char for char in question["raw"] if char in LOOKALIKE_DIGITS))
        self.say("ask_value", buttons=[*buttons, ["menu"]], question=question, fields=dict(self.fields),
                 inferred=dict(self.data.get("inferred", {})), letters=letters)

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

    def reject_near_match(self, event: AsyncEventData) -> None:
        self.data["near_rejected"] = True

    async def conclude(self, event: AsyncEventData) -> None:
        """The near match was not it: the rest of the same diagnosis decides (region, sync delay, a person)."""
        result = self.data.get("result") or {}
        self.facts = Facts(checks=list(self.data.get("checks", [])), region=result.get("region"),
                           recent=result.get("recent"))
        await self.trigger("check")  # type: ignore[attr-defined]

    def mark_not_found(self, event: AsyncEventData) -> None:
        self.data["ticket_reason"] = "not_found"

    def hold_read(self, event: AsyncEventData) -> None:
        self.forget_invoice(event)
        self.data["read"] = dict(event.kwargs.get("fields") or {})
        self.data["read_via"] = str(event.kwargs.get("via") or "")  # "ocr": from the printed text, said so

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
        self.remember(self._outcome_topic())
        self.prompt(event)

    def _outcome_topic(self) -> str | None:
        """The answer a follow-up to this outcome gets: the topic of its cause."""
        if self.state == "bad_status":
            status = (self.facts.invoice or {}).get("status")
            return {"abnormal": "out_of_control"}.get(str(status), str(status))
        return OUTCOME_TOPICS.get(self.state)

    async def open_ticket(self, event: AsyncEventData) -> None:
        if event.event.name == "ticket_taken_back":
            return  # the ticket exists: a person took it up again
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
        self.say("notify_saved", buttons=PROMPT_BUTTONS["handoff"], window=window, fields=dict(self.fields))

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

    async def respond(self, event: AsyncEventData) -> None:
        """Free text (or a "did you mean" button) outside collecting: act on its intent, answer it, or ask."""
        intent = event.kwargs.get("intent") or _understood(event).intent
        if intent is None:
            self._clarify(_understood(event))
        elif intent in ACTING:
            await self.trigger(ACTING[intent])  # type: ignore[attr-defined]
        elif intent in ("greeting", "thanks", "ok") and self.state == "menu":
            self.say(f"chat_{intent}")
            self.prompt(event)
        elif intent in ("greeting", "thanks", "ok"):
            self.say(f"chat_{intent}", buttons=self._buttons())  # a word back, and the same choices as before
        elif intent == "capabilities":
            self.show_help(event)
        elif intent == "maintenance":
            await self.maintenance_now(event)
        elif intent in FOLLOW_UPS:
            await self._follow_up(event, intent)
        else:
            self._answer(intent)

    def _answer(self, topic: str, **context: Any) -> None:
        """A topic's answer with what can be done next; remembered for a follow-up ("那怎么办")."""
        self.remember(topic)
        buttons = self._buttons() if self.state in OUTCOMES else TOPIC_BUTTONS.get(topic, PROMPT_BUTTONS["menu"])
        self.say(f"kb_{topic}", buttons=buttons, **context)  # after an outcome, its buttons stay (申请查看权限…)

    def _clarify(self, understood: Understood) -> None:
        """Not sure what was meant: the likeliest topics as buttons, and a person; the text is never echoed."""
        offered = [name for name in understood.likely if name in OFFERED][:3]
        self.say("clarify", buttons=[*([f"ask.{name}"] for name in offered), ["human", "menu"]],
                 offered=offered)

    async def _follow_up(self, event: AsyncEventData, intent: str) -> None:
        """"那怎么办 / 多久 / 为什么" about what was just said; without one, asked which topic is meant."""
        topic = self.recalled()
        if topic is None or (intent == "how_long" and topic not in FOLLOW_UPS[intent]):
            self._clarify(Understood(None, likely=FOLLOW_UPS[intent]))  # "多久" after "voided" asks nothing known
        elif topic == "maintenance":
            await self.maintenance_now(event)
        elif topic == "sync_delay" and intent == "how_long":
            result = self.data.get("result") or {}
            expected = (result.get("pending") or result.get("recent") or {}).get("expected_at")
            self._answer(topic, expected_at=expected)
        else:
            self._answer(topic)

    def remember(self, topic: str | None) -> None:
        """What the bot just talked about, for a follow-up within `TOPIC_MINUTES`."""
        if topic is None:
            self.data.pop("topic", None)
            return
        self.data["topic"] = {"key": topic, "at": self.ports.moment().isoformat()}

    def recalled(self) -> str | None:
        topic = self.data.get("topic")
        if not topic:
            return None
        said_at = datetime.fromisoformat(topic["at"])
        return str(topic["key"]) if self.ports.moment() - said_at <= timedelta(minutes=TOPIC_MINUTES) else None

    async def maintenance_now(self, event: AsyncEventData) -> None:
        """"Is the system down?": the state now (the window and its end, or go ahead), not what maintenance is."""
        status = await self.ports.system_status()
        self.remember("maintenance" if status["current"] else None)
        buttons = [["notify"], ["menu"]] if status["current"] else [["find"], ["menu"]]
        self.say("maintenance_now", buttons=buttons, **status)

    def _buttons(self) -> list[list[str]]:
        """The choices the current state offers."""
        if self.state == "handoff" and self.data.get("ticket_id"):  # while a person has it, menus would be dead
            return [[f"withdraw.{self.data['ticket_id']}"]]
        if self.state == "confirm_read" and self._read_too_old() is not None:
            return [["no"], ["human", "menu"]]  # nothing to check: the date may be misread, or a person can help
        return PROMPT_BUTTONS.get(self.state, NEXT_STEPS)

    def prompt(self, event: AsyncEventData | None = None) -> None:
        """Say what the current state asks of the user (also used to re-show an expired menu)."""
        if self.state == "collecting":
            self._ask()
            return
        result = self.data.get("result") or {}
        buttons = self._buttons()
        if self.state == "confirm_read":
            result = {**result, "too_old": self._read_too_old()}
        self.say(f"state_{self.state}", buttons=buttons,
                 fields=dict(self.data.get("fields", {})), ticket_id=self.data.get("ticket_id"),
                 read=dict(self.data.get("read", {})), read_via=self.data.get("read_via", ""),
                 ticket=self.data.get("ticket"),
                 ticket_reason=self.data.get("ticket_reason_shown"), inferred=dict(self.data.get("inferred", {})),
                 **result)


STATE_NAMES = TROUBLESHOOT.state_names
CHOICES = {"menu", "find", "human", "status", "help", "lang", "yes", "no", "notify", "later", "access"}


def choice_trigger(choice: str) -> tuple[str, dict[str, Any]] | None:
    """The trigger a button fires and its arguments ("ask.voided" -> ask about voided; "pick.1" -> the 2nd
    value offered); None for a choice this flow never shows (forged or from an older release)."""
    if choice in CHOICES:
        return choice, {}
    kind, _, rest = choice.partition(".")
    if kind == "ask" and rest in OFFERED:
        return "ask", {"intent": rest}
    if kind == "pick" and len(rest) == 1 and rest in PICKS:
        return "pick", {"index": PICKS.index(rest)}
    return None
