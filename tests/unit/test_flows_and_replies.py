"""The flow diagrams are current, and every reply exists in both languages and renders."""

from __future__ import annotations

import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from assistant.replies import LANGUAGES, Renderer, normalise_language
from flows.base import Say, build_machine
from flows.troubleshoot import CHOICES, PROMPT_BUTTONS, STATE_NAMES, TROUBLESHOOT

ROOT = Path(__file__).resolve().parents[2]


def test_docs_flows_md_matches_the_code() -> None:
    from bot import FLOWS_DOC, flows_markdown

    assert FLOWS_DOC.read_text(encoding="utf-8") == flows_markdown(), "run `python bot.py flows`"


def test_the_diagram_shows_every_state_and_the_decision_conditions() -> None:
    from bot import flows_markdown

    text = flows_markdown()
    for state in STATE_NAMES:
        assert f'state "{state}" as {state}' in text
    assert "checking --> maintenance: check [in_maintenance]" in text


def test_machine_is_shared_and_holds_no_model() -> None:
    machine = build_machine(TROUBLESHOOT)
    assert machine.models == []
    assert machine.has_queue == "model"


async def test_a_transitions_callbacks_run_one_after_the_other_in_table_order() -> None:
    import asyncio

    from flows.base import FlowModel, FlowSpec, attached

    class Model(FlowModel):
        async def slow(self, event: object) -> None:
            self.said.append(Say("slow started"))
            await asyncio.sleep(0.01)
            self.said.append(Say("slow ended"))

        async def quick(self, event: object) -> None:
            self.said.append(Say("quick"))

    spec = FlowSpec("order", [{"name": "a"}, {"name": "b"}],
                    [{"trigger": "go", "source": "a", "dest": "b", "after": ["slow", "quick"]}], "a")
    model = Model("a", {})
    async with attached(build_machine(spec), model):
        await model.trigger("go")
    assert model.state == "b"
    assert [say.key for say in model.said] == ["slow started", "slow ended", "quick"]


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(ROOT / "replies", ZoneInfo("Asia/Shanghai"))


def test_both_languages_have_the_same_templates(renderer: Renderer) -> None:
    assert renderer.keys("zh") == renderer.keys("en")
    assert len(renderer.keys("zh")) > 30


def test_every_template_the_code_names_exists(renderer: Renderer) -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in [*(ROOT / "flows").glob("*.py"),
                                                               *(ROOT / "assistant").rglob("*.py")])
    named = set(re.findall(r'say\(\s*"([a-z_]+)"', source)) | set(re.findall(r'text\(\s*"([a-z_]+)"', source))
    named |= {f"state_{s}" for s in PROMPT_BUTTONS if s != "collecting"}
    for language in LANGUAGES:
        assert named - renderer.keys(language) == set()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_button_has_a_label(renderer: Renderer, language: str) -> None:
    from flows.maintenance import CHOICES as MAINTENANCE_CHOICES

    choices = CHOICES | MAINTENANCE_CHOICES | {"claim.7", "close.7", "reopen.7", *(f"rate.7.{n}" for n in range(1, 6))}
    labels = {choice: renderer.label(choice, language) for choice in choices}
    assert all(labels.values()) and len(set(labels.values())) == len(choices)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_did_you_mean_and_pick_button_has_its_own_label(renderer: Renderer, language: str) -> None:
    from flows.troubleshoot import OFFERED, PICKS, choice_trigger

    choices = [f"ask.{name}" for name in sorted(OFFERED)] + [f"pick.{letter}" for letter in PICKS]
    labels = [renderer.label(choice, language) for choice in choices]
    assert all(labels) and len(set(labels)) == len(choices)
    assert all(label != choice[4:] for label, choice in zip(labels, choices))  # a phrase, not an intent's name
    assert all(choice_trigger(choice) is not None for choice in choices)
    assert choice_trigger("ask.nonsense") is None and choice_trigger("pick.z") is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_user_text_is_escaped(renderer: Renderer, language: str) -> None:
    question = {"field": "number", "value": "20000123", "raw": "<b>x</b> & y", "reason": "lookalike", "options": []}
    context = {"question": question, "fields": {}, "inferred": {}, "letters": ["O"]}
    text, _ = renderer.render(Say("ask_value", context), language)
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in text and "<b>x</b>" not in text


@pytest.mark.parametrize(("code", "language"), [("zh-hans", "zh"), ("zh-TW", "zh"), ("en-GB", "en"),
                                                ("en", "en"), ("fr", "zh"), (None, "zh")])
def test_language_codes(code, language) -> None:
    assert normalise_language(code, "zh") == language


async def test_ticket_lifecycle_refuses_what_its_conditions_refuse() -> None:
    from datetime import datetime, timedelta, timezone

    from flows.base import attached
    from flows.ticket import TICKET, TicketLifecycle

    class Recorder:
        def __init__(self) -> None:
            self.events: list[tuple[str, str, int | None]] = []

        async def record(self, event: str, state: str, actor_id: int | None, detail: dict) -> None:
            self.events.append((event, state, actor_id))

    machine = build_machine(TICKET)
    now = datetime(2026, 6, 15, tzinfo=timezone.utc)

    async def fire(state: str, trigger: str, actor: int, role: str, closed_hours_ago: float | None = None,
                   rated: bool = False) -> tuple[bool, str, list]:
        ports = Recorder()
        closed = now - timedelta(hours=closed_hours_ago) if closed_hours_ago is not None else None
        model = TicketLifecycle(state, owner_id=1, actor_id=actor, actor_role=role, closed_at=closed, rated=rated,
                                now=now, ports=ports)
        async with attached(machine, model):
            await model.trigger(trigger)
        return model.done, model.state, ports.events

    assert await fire("open", "claim", 9, "staff") == (True, "claimed", [("claim", "claimed", 9)])
    assert await fire("open", "claim", 1, "merchant") == (False, "open", [])
    assert await fire("claimed", "withdraw", 1, "merchant") == (True, "closed", [("withdraw", "closed", 1)])
    assert await fire("claimed", "withdraw", 2, "merchant") == (False, "claimed", [])
    assert (await fire("closed", "reopen", 1, "merchant", closed_hours_ago=2))[:2] == (True, "open")
    assert (await fire("closed", "reopen", 1, "merchant", closed_hours_ago=25))[:2] == (False, "closed")
    assert (await fire("closed", "reopen", 9, "admin", closed_hours_ago=100))[:2] == (True, "open")
    assert (await fire("closed", "rate", 1, "merchant", closed_hours_ago=1))[:2] == (True, "closed")
    assert (await fire("closed", "rate", 1, "merchant", closed_hours_ago=1, rated=True))[:2] == (False, "closed")
    assert machine.models == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_list_items_keep_their_own_lines_and_long_lists_are_counted(renderer: Renderer, language: str) -> None:
    from datetime import datetime, timezone

    when = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)
    tickets = [{"id": i, "state": "open", "created_at": when, "fields": {"number": "12345678"} if i % 2 else {}}
               for i in range(3)]
    lines = renderer.text("tickets_list", language, tickets=tickets, more=17).split("\n")
    assert [line.startswith("• #") for line in lines[1:4]] == [True] * 3 and "17" in lines[4]
    waiting = [{"id": i, "merchant_name": f"m{i}", "waiting_minutes": 3, "fields": {"number": "9"} if i else {}}
               for i in range(2)]
    lines = renderer.text("queue_list", language, waiting=waiting, more=0).split("\n")
    assert len(lines) == 3 and all(line.startswith("• #") for line in lines[1:])
    mismatch = renderer.text("state_mismatch", language, fields={"number": "12345678"}, mismatches=[
        {"field": "amount", "typed": "5650", "hint": "typed_total"}, {"field": "date", "typed": "2025-01-01",
                                                                     "hint": None}])
    assert len([line for line in mismatch.split("\n") if line.startswith("• ")]) == 2
    assert mismatch.split("\n")[0].startswith("🔎") and "<code>12345678</code>" in mismatch  # what was checked
    assert not re.search(r"(金额</b>|needed here)\S", mismatch)  # the next sentence starts on its own line


def test_help_lists_the_checks_in_the_order_the_flow_makes_them(renderer: Renderer) -> None:
    words = {"zh": {"maintenance": "系统维护", "no_permission": "查看权限", "bad_status": "发票状态",
                    "other_region": "开票地区", "too_recent": "同步延迟", "near_match": "相近"},
             "en": {"maintenance": "maintenance", "no_permission": "permission", "bad_status": "status",
                    "other_region": "region", "too_recent": "sync delay", "near_match": "similar"}}
    order = [t["dest"] for t in TROUBLESHOOT.transitions if t["trigger"] == "check"]
    for language, names in words.items():
        text = renderer.text("help", language)
        positions = [text.index(names[dest]) for dest in order if dest in names]
        assert positions == sorted(positions), language


def test_moments_are_said_as_people_say_them() -> None:
    from datetime import datetime, timezone

    now = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing
    renderer = Renderer(ROOT / "replies", ZoneInfo("Asia/Shanghai"), clock=lambda: now)
    moments = {"today": datetime(2026, 6, 15, 10, 0, tzinfo=timezone.utc),  # 18:00 Beijing
               "tomorrow": datetime(2026, 6, 15, 16, 0, tzinfo=timezone.utc),  # 00:00 the next day
               "later": datetime(2026, 11, 24, 10, 0, tzinfo=timezone.utc),
               "earlier year": datetime(2025, 3, 1, 4, 0, tzinfo=timezone.utc)}
    said = {lang: {name: renderer.text("notify_saved", lang, window={"ends_at": moment.isoformat()})
                   for name, moment in moments.items()} for lang in LANGUAGES}
    assert "今天 18:00" in said["zh"]["today"] and "明天 00:00" in said["zh"]["tomorrow"]
    assert "11月24日 18:00" in said["zh"]["later"] and "2025年3月1日 12:00" in said["zh"]["earlier year"]
    assert "today 18:00" in said["en"]["today"] and "24 Nov 18:00" in said["en"]["later"]
    assert "1 Mar 2025 12:00" in said["en"]["earlier year"]


class _Anything:
    """What a template may ask of a value in a test render: text, a list, a mapping, a number, true."""

    def __str__(self) -> str:
        return "示例"

    def __html__(self) -> str:
        return "示例"

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter([_Anything(), _Anything()])

    def __len__(self) -> int:
        return 2

    def __bool__(self) -> bool:
        return True

    def __getattr__(self, name: str) -> _Anything:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()

    def __getitem__(self, key: object) -> _Anything:
        return _Anything()

    def get(self, *args: object) -> _Anything:
        return _Anything()

    def __sub__(self, other: object) -> int:
        return 1

    def __eq__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0


TELEGRAM_TAGS = {"b", "i", "u", "s", "code", "pre", "a", "tg-spoiler", "blockquote"}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_template_renders_as_telegram_takes_it(language: str) -> None:
    """Each template, rendered with sample values: HTML Telegram accepts, list items on lines of their own,
    no stray whitespace."""
    from jinja2 import Undefined

    class Sample(_Anything, Undefined):  # type: ignore[misc]
        pass

    renderer = Renderer(ROOT / "replies", ZoneInfo("Asia/Shanghai"))
    renderer.env.undefined = Sample
    renderer.env.filters["when"] = lambda value: "今天 18:00"
    problems = []
    for key in sorted(k for k in renderer.keys(language) if not k.startswith("_")):
        text = renderer.text(key, language)
        tags = re.findall(r"<(/?)([a-zA-Z-]+)[^>]*>", text)
        if {name for _, name in tags} - TELEGRAM_TAGS:
            problems.append((key, "a tag Telegram refuses"))
        if [name for closing, name in tags if not closing] != [name for closing, name in tags if closing][::-1] \
                and sorted(n for c, n in tags if not c) != sorted(n for c, n in tags if c):
            problems.append((key, "unbalanced tags"))
        for line in text.split("\n"):
            if "•" in line.lstrip()[1:]:
                problems.append((key, f"list items glued together: {line[:40]}"))
            if line != line.rstrip() or "  " in line.strip():
                problems.append((key, f"stray whitespace: {line[:40]!r}"))
        if language == "zh" and re.search(r" [，。；：！？、）]", text):
            problems.append((key, "a space before punctuation"))
    assert problems == []


def test_the_advice_is_right_for_each_family(renderer: Renderer) -> None:
    ask = renderer.text("ask", "zh", fields={}, missing="code", family=None, stuck=False)
    assert "左上方" in ask and "右上角" in ask and "数电票没有发票代码" in ask  # not "top left" for every invoice
    assert "数电票不能作废" in renderer.text("kb_voided", "zh")
    assert "13 结尾" not in renderer.text("kb_amount", "zh") and "ending in 13" not in renderer.text("kb_amount", "en")
    region = renderer.text("kb_other_region", "zh")
    assert "全国增值税发票查验平台" in region and "税务局系统" not in region
