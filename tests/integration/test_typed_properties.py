"""Property-based, through the conversation: a field the merchant never gave never appears in any answer.

Merchants' messages are generated from the families that used to go wrong (letters typed for digits, days
without months or years, relative days, 大写 amounts, English dates, phone numbers, tax ids, noise) and sent
while the assistant collects an invoice's fields. After every reply, each field the conversation holds — and
each value shown after a field's name — must be traceable to what was typed: its digits typed (letters
typed for digits count as those digits), or a part that was inferred and said aloud (the year from the code,
a day said relative to today), or a value the merchant confirmed with a button.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assistant.domain.identifiers import LOOKALIKE_DIGITS
from assistant.messages import ButtonPress, Text
from assistant.outputs import Reply
from assistant.settings import Settings
from assistant.store.engine import make_engine, make_sessions
from assistant.store.uow import UnitOfWork
from tests.conftest import SUPPORT_CHAT, FakeClock, clear_database
from tests.factories import add_user
from tests.integration.test_properties import database  # noqa: F401 - a migrated SQLite file, shared

MERCHANT = 1000
TODAY = FakeClock().today
RELATIVE = {"今天": 0, "今日": 0, "昨天": 1, "前天": 2, "大前天": 3, "today": 0, "yesterday": 1}
DAXIE = "零壹贰叁肆伍陆柒捌玖"

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)
letters = st.sampled_from(sorted(LOOKALIKE_DIGITS))


@st.composite
def with_letter(draw: st.DrawFn, value: str) -> str:
    """The value with one digit typed as a letter that looks like one."""
    index = draw(st.integers(0, len(value) - 1))
    letter = draw(letters)
    return value[:index] + letter + value[index + 1:]


def daxie(amount: int) -> str:
    """A whole amount under 10,000 in 大写 (伍佰捌拾元整)."""
    units = ["仟", "佰", "拾", ""]
    text, zero = "", False
    for digit, unit in zip(f"{amount:04d}", units):
        if digit == "0":
            zero = bool(text)
            continue
        text += ("零" if zero else "") + DAXIE[int(digit)] + unit
        zero = False
    return (text or "零") + "元整"


@st.composite
def pieces(draw: st.DrawFn) -> str:
    """One thing a merchant might type."""
    code = "0110026" + draw(st.from_regex(r"\A[0-9]{3}\Z")) + draw(st.sampled_from(["11", "04", "13"]))
    number = draw(st.from_regex(r"\A[0-9]{8}\Z"))
    day = draw(st.integers(1, 28))
    month = draw(st.integers(1, 12))
    amount = draw(st.integers(1, 9999))
    check = draw(st.from_regex(r"\A[0-9]{6}\Z"))
    kind = draw(st.sampled_from([
        "code", "number", "number_letter", "code_letter", "day", "month_day", "relative", "relative_other",
        "english", "daxie", "money", "bare", "phone", "tax_id", "noise", "short_year", "check", "check_letter"]))
    return {
        "code": f"代码 {code}", "number": f"号码 {number}", "number_letter": f"号码 {draw(with_letter(number))}",
        "code_letter": f"代码 {draw(with_letter(code))}", "day": f"{day}号开的", "month_day": f"{month}月{day}日",
        "relative": f"{draw(st.sampled_from(sorted(RELATIVE)))}开的",
        "relative_other": f"系统{draw(st.sampled_from(['今天', '昨天']))}是不是崩了",
        "english": f"June {day}, 2026", "daxie": daxie(amount), "money": f"¥{amount}.{draw(digits)}0",
        "bare": str(draw(st.integers(1, 99999))), "phone": "010-62345678", "tax_id": "91110000600037341L",
        "noise": draw(st.sampled_from(["麻烦查一下", "谢谢", "怎么回事", "hello", "急"])),
        "short_year": f"26/{month}/{day}", "check": f"校验码 {check}",
        "check_letter": f"校验码 {draw(with_letter(check))}",
    }[kind]


messages = st.lists(pieces(), min_size=1, max_size=4).map(" ".join)


def typed_digits(texts: list[str]) -> str:
    """Every digit typed, letters typed for digits read as those digits, 大写 as its digits."""
    joined = unicodedata.normalize("NFKC", " ".join(texts))
    joined = joined.translate(str.maketrans({letter: digit for letter, digit in LOOKALIKE_DIGITS.items()}))
    return "".join(char for char in joined if char.isdigit())


def traceable(field: str, value: str, texts: list[str], inferred: dict[str, str], confirmed: set[str]) -> bool:
    """Whether the merchant gave `value` for `field` (see the module's docstring)."""
    if field in confirmed:
        return True
    typed = typed_digits(texts)
    if field in ("code", "number", "check_code"):
        return value in typed
    if field == "date":
        year, month, day = (int(part) for part in value.split("-"))
        if inferred.get("date") == "relative":
            return any(word in " ".join(texts) and (TODAY - timedelta(days=back)).isoformat() == value
                       for word, back in RELATIVE.items())
        said_day = re.search(rf"(?<!\d)0?{day}(?!\d)", " ".join(texts)) is not None
        said_month = re.search(rf"(?<!\d)0?{month}(?!\d)", " ".join(texts)) is not None or "June" in " ".join(texts)
        said_year = str(year) in " ".join(texts) or inferred.get("date") == "year_from_code"
        return said_day and said_month and said_year
    whole = value.split(".")[0]
    return whole in typed or any(char in DAXIE for char in " ".join(texts))


SHOWN = re.compile(r"(发票代码|发票号码|开票日期|不含税金额|校验码后6位|价税合计) <code>([^<]+)</code>")
FIELD_OF = {"发票代码": "code", "发票号码": "number", "开票日期": "date", "不含税金额": "amount",
            "校验码后6位": "check_code", "价税合计": "total"}


async def converse(url: str, sequence: list[str], answers: list[str]) -> None:
    from tests.conftest import make_assistant

    engine = make_engine(url)
    sessions = make_sessions(engine)
    clock = FakeClock()
    try:
        async with sessions() as session, session.begin():
            await clear_database(session)
        await add_user(sessions, clock.now)
        assistant = make_assistant(Settings(database_url=url, support_chat_id=SUPPORT_CHAT, _env_file=None),
                                   sessions, clock)
        await assistant.handle(ButtonPress(user_id=MERCHANT, chat_id=MERCHANT, choice="find", version=0))
        sent: list[str] = []
        confirmed: set[str] = set()
        for text, answer in zip(sequence, answers):
            sent.append(text)
            replies = [o for o in await assistant.handle(Text(user_id=MERCHANT, chat_id=MERCHANT, text=text))
                       if isinstance(o, Reply)]
            async with sessions() as session:
                row, _ = await UnitOfWork(session).conversations.get(MERCHANT, MERCHANT, initial="menu",
                                                                    now=clock.now)
            questions = row.data.get("questions") or []
            if questions and answer == "yes" and replies and "yes" in replies[-1].choices:
                confirmed.add(questions[0]["field"])
                await assistant.handle(ButtonPress(user_id=MERCHANT, chat_id=MERCHANT, choice="yes", version=0))
                async with sessions() as session:
                    row, _ = await UnitOfWork(session).conversations.get(MERCHANT, MERCHANT, initial="menu",
                                                                        now=clock.now)
            if row.state != "collecting":
                return  # looked up (or handed over): what was checked is shown from the same fields
            fields, inferred = row.data.get("fields", {}), row.data.get("inferred", {})
            for name, value in fields.items():
                assert traceable(name, value, sent, inferred, confirmed), (name, value, sent)
            for reply in replies:
                for label, value in SHOWN.findall(reply.text):
                    assert fields.get(FIELD_OF[label]) == value or FIELD_OF[label] in confirmed or any(
                        q["value"] == value for q in questions), (label, value, reply.text)
    finally:
        await engine.dispose()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=st.lists(messages, min_size=1, max_size=4),
       answers=st.lists(st.sampled_from(["yes", "type on"]), min_size=4, max_size=4))
def test_no_field_appears_that_the_merchant_did_not_give(database: str, sequence: list[str],
                                                         answers: list[str]) -> None:
    asyncio.run(converse(database, sequence, answers))
