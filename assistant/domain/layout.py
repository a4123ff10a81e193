"""Read an invoice's fields from positioned text: each value is the text right of its printed label.

PDF text layers and OFD pages give characters with boxes, not sentences: labels (发票代码:) and values
(033001800311) are separate objects, often in another order than on paper, and the page holds many
other digits (机器编号, 密码区, bank accounts, phone numbers). So nothing is taken because it looks like
a field; a value is taken only when it starts right of its own label on the same line and has the
field's shape. Labels printed with spaces (校 验 码) are matched on the characters alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from assistant.domain.invoice_fields import single_field_sources

MAX_GLYPHS = 20_000
"""An invoice page has about 1,000 characters; text beyond this is not an invoice's."""


@dataclass(frozen=True)
class Glyph:
    """One character and its box (any unit; y may grow up or down, only overlaps are compared)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def height(self) -> float:
        return max(self.y1 - self.y0, 0.1)


NOT_THIS_INVOICE = ("原", "正数", "对应", "蓝字", "红字")
"""A label right after these names another invoice (a red-letter invoice's notes name the original)."""


@dataclass(frozen=True)
class Label:
    """A printed label, the fields of the values right of it (in order), the characters a value may
    hold, and how far right the first may start (in label heights; None: anywhere along the line)."""

    fields: tuple[str, ...]
    words: tuple[str, ...]
    allowed: str
    reach: float | None = 6.0
    gap: float = 1.0
    """The widest gap inside a value, in character heights."""
    not_after: tuple[str, ...] = NOT_THIS_INVOICE
    """What, printed right before the label, makes it another label (or another invoice's)."""


DIGITS = "0123456789"
DATE_CHARS = DIGITS + "年月日-./"
MONEY_CHARS = DIGITS + ".,¥￥-"
LABELS = (
    Label(("code",), ("发票代码",), DIGITS),
    Label(("number",), ("发票号码",), DIGITS),
    # 年 月 日 are often in the page's background, leaving wide gaps: 2019   05   13
    Label(("date",), ("开票日期",), DATE_CHARS, gap=2.5),
    Label(("check_code",), ("校验码",), DIGITS),
    Label(("total",), ("(小写)", "（小写）"), MONEY_CHARS, reach=None),
    # The 合计 row: amount excluding tax, then the tax (价税合计 is the total's row, read by its (小写)).
    Label(("amount", "tax"), ("合计",), MONEY_CHARS, reach=None, not_after=(*NOT_THIS_INVOICE, "价税")),
    # 铁路电子客票: 票价 (or 退票费) is the total, 金额 and 税额 beside it. On other invoices 金额 and 税额
    # head a column, and the next thing right of them is another heading, not money.
    Label(("total",), ("票价", "退票费"), MONEY_CHARS),
    Label(("amount",), ("金额",), MONEY_CHARS, not_after=(*NOT_THIS_INVOICE, "价税")),
    Label(("tax",), ("税额",), MONEY_CHARS),
)
SEPARATORS = ":："
"""Characters between a label and its value."""


def lines(glyphs: Iterable[Glyph]) -> list[list[Glyph]]:
    """Glyphs grouped into lines (a glyph joins a line its vertical centre falls in), left to right."""
    ordered = sorted(glyphs, key=lambda g: (g.y0 + g.y1) / 2)
    tallest = max((glyph.height for glyph in ordered), default=0.0)
    rows: list[tuple[float, float, float, list[Glyph]]] = []  # (first glyph's centre, low, high, glyphs)
    for glyph in ordered:
        centre = (glyph.y0 + glyph.y1) / 2
        # Rows start in centre order and are at most `tallest` high, so only the last few can hold this
        # centre; of those, the earliest row takes it.
        earliest: list[Glyph] | None = None
        for first, low, high, row in reversed(rows):
            if first < centre - tallest:
                break
            if low <= centre <= high:
                earliest = row
        if earliest is None:
            rows.append((centre, glyph.y0, glyph.y1, [glyph]))
        else:
            earliest.append(glyph)
    return [sorted(row, key=lambda g: g.x0) for *_, row in rows]


def read_labels(glyphs: list[Glyph]) -> dict[str, list[str]]:
    """Every value found right of a label, by field (`tax` from the 合计 row's second value)."""
    found: dict[str, list[str]] = {}
    for row in lines(glyph for glyph in glyphs[:MAX_GLYPHS] if glyph.text.strip()):
        text = "".join(glyph.text[0] for glyph in row)
        for label in LABELS:
            for word in label.words:
                for match in re.finditer(re.escape(word), text):
                    if text[:match.start()].endswith(label.not_after):
                        continue
                    for name, value in zip(label.fields, _values_after(row, match.end(), label)):
                        found.setdefault(name, []).append(value)
    return found


def label_sources(glyphs: list[Glyph], today: date) -> list[dict[str, str]]:
    """One source per value read next to a label (so two different values of one field dispute)."""
    return single_field_sources(((name, value) for name, values in read_labels(glyphs).items()
                                 for value in values), today)


def _values_after(row: list[Glyph], index: int, label: Label) -> list[str]:
    """The values starting right after row[index - 1], the label's last character."""
    end = row[index - 1]
    height = end.height
    while index < len(row) and row[index].text in SEPARATORS:
        index += 1
    if index >= len(row):
        return []
    if label.reach is not None and row[index].x0 - end.x1 > label.reach * height:
        return []
    values: list[str] = []
    while index < len(row) and len(values) < len(label.fields):
        value, index = _token(row, index, label.allowed, height * label.gap)
        if not value.strip("¥￥"):
            break
        values.append(value)
    return values


def _token(row: list[Glyph], index: int, allowed: str, widest: float) -> tuple[str, int]:
    """Characters of the value's shape, joined while the gaps are no wider than a character (so
    spaced groups like 83592 04893 stay one value); a currency sign starts a new value."""
    chars: list[str] = []
    previous: Glyph | None = None
    while index < len(row):
        glyph = row[index]
        if glyph.text not in allowed:
            break
        if previous is not None and (glyph.x0 - previous.x1 > widest or glyph.text in "¥￥"):
            break
        chars.append(glyph.text)
        previous = glyph
        index += 1
    return "".join(chars), index
