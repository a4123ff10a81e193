"""Read a paper invoice's printed fields from a photo or a scanned page (OCR), when no QR code is readable.

The text is found and read by RapidOCR (PP-OCRv4 detection and recognition, PP-OCR direction classifier;
the `rapidocr-onnxruntime` wheel ships the models, nothing is downloaded). The engine is loaded once per
reader process, lazily: a file with a readable QR code never loads it. Before reading, the image is
normalised: orientation from EXIF (by the caller), downscaled to what the text needs (`OCR_SIDE`), the
page turned upright from the text's own direction (lines running up or down: turned a quarter; most
lines read upside down by the direction classifier: turned a half), and the boxes straightened by the
lines' median tilt.

The recognised lines become positioned characters (`layout.Glyph`) and go through the same label reader
as a PDF's text layer: a value is taken only right of its own label, never 机器编号, the cipher zone,
account or phone digits. Paper invoices add what the printer puts there: the number after `No`, the
code printed twice (top left and beside 发票代码), the 价税合计 in words (大写), cross-checked with the
figures (小写) like any two sources. A line read with a low recognition score gives nothing, every
value is validated like a typed one, money must add up (amount + tax = total), and the code's year must
be the date's: what fails is left for the merchant to type, and what passes is still shown to confirm.
"""

from __future__ import annotations

import logging
import math
import re
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from assistant.domain.amounts import whole_amount
from assistant.domain.identifiers import (
    code_year,
    family_of,
    fourth_field,
    normalise_text,
    validate_code,
    validate_number,
)
from assistant.domain.invoice_fields import MONEY_FIELDS, merge, single_field_sources, tidy
from assistant.domain.layout import DIGITS, LABELS, MONEY_CHARS, Glyph, Label, lines

logger = logging.getLogger(__name__)

OCR_SIDE = 1280
"""The longest side given to OCR: an A4 page's 10-point digits are ~20 px high, enough for the models."""
MIN_SCORE = 0.85
"""A line recognised with a lower mean score gives nothing (its digits are not trusted)."""
CHAR_MIN = 0.6
"""A character recognised with a lower confidence is not read at all (a misread digit measured at 0.47
on a small askew photo; the digits of clear photos are read at 0.9 and more)."""
UNSURE = "\ufffd"
MAX_BOXES = 400
"""An invoice has ~100 text lines; detection beyond this is noise (a hostile image), not read."""
HEAD_SHARE = 0.3
"""The top of the text read first: an invoice's title, code, number, date and check code are there."""
MIN_LINES = 3
"""Fewer recognised lines than this is not a document."""
PAPER_LABELS = (
    # Paper invoices print the number in red after "No" (№); OCR reads it as No, NO or N0.
    Label(("number",), ("No", "NO", "N0", "№"), DIGITS, reach=3.0),
    # 机动车销售统一发票: the price excluding tax.
    Label(("amount",), ("不含税价",), MONEY_CHARS, reach=None),
)
_WORDS_LABEL = re.compile(r"[(（]\s*大\s*写\s*[)）]")
_CURRENCY_LOOKALIKE = re.compile(r"(?<![A-Za-z0-9])[Y半](?=\d)")
"""¥ as OCR often reads it: Y or 半 right before the figures."""

THREADS = 1
"""Threads of each model's inference. One: the readers (READ_WORKERS) already share the cores file by file,
and onnxruntime's extra threads spin while they wait, which on a busy machine cost 60% more CPU and more
time (measured in docs/photos.md)."""
M_ARENA_MAX = -8
"""glibc's mallopt parameter for the number of malloc arenas."""

_engine: Any = None


@dataclass(frozen=True)
class TextLine:
    """One recognised line of text and its upright, straightened box."""

    text: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float


def engine() -> Any:
    """The OCR engine, loaded on first use and kept for the reader process's life."""
    global _engine
    if _engine is None:
        _economise()
        import cv2
        from rapidocr_onnxruntime import RapidOCR

        cv2.setNumThreads(1)
        logging.getLogger("RapidOCR").setLevel(logging.WARNING)
        _engine = RapidOCR(intra_op_num_threads=THREADS, inter_op_num_threads=1)
    return _engine


def _economise() -> None:
    """Fewer threads and malloc arenas: each thread's arena reserves 64 MB of address space, which the
    reader's limit (RLIMIT_AS) counts. Set before numpy, OpenCV and onnxruntime start their threads."""
    import ctypes
    import ctypes.util
    import os

    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # not glibc: nothing to economise
        pass


def prepare(image: Any) -> Any:
    """The image as OCR needs it: RGB, its longest side at most OCR_SIDE."""
    from PIL import Image

    image = image.convert("RGB")
    longest = max(image.size)
    if longest > OCR_SIDE:
        scale = OCR_SIDE / longest
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.LANCZOS)
    return image


@dataclass
class Page:
    """A page made upright and its text found; its lines are recognised on demand, band by band."""

    crops: list[Any]
    boxes: list[tuple[list[float], list[float]]]
    """Each line's straightened corners (xs, ys) on the upright page."""

    @classmethod
    def found(cls, image: Any) -> Page:
        """The image normalised (downscaled, turned upright) and its text lines found, not yet read."""
        import numpy as np

        started = time.process_time()
        ocr = engine()
        loaded = time.process_time()
        pixels = np.ascontiguousarray(np.asarray(prepare(image))[:, :, ::-1])  # the models take BGR
        boxes = _detected(ocr, pixels)
        if boxes and _sideways(boxes):  # turned a quarter, found again: the detector splits lines running up or down
            pixels = np.ascontiguousarray(np.rot90(pixels))
            boxes = _detected(ocr, pixels)
        if not boxes:
            return cls([], [])
        crops, directions, _ = ocr.text_cls(ocr.get_crop_img_list(pixels, boxes))
        height, width = pixels.shape[:2]
        if sum(label == "180" for label, _ in directions) * 2 > len(directions):  # the page is upside down
            boxes = [_ordered(np.stack([width - 1 - box[:, 0], height - 1 - box[:, 1]], axis=1)) for box in boxes]
        tilt = _tilt(boxes)
        logger.info("OCR CPU: engine %.2f s, finding %s lines %.2f s", loaded - started, len(boxes),
                    time.process_time() - loaded)
        return cls(crops, [_straightened(box, tilt, width / 2, height / 2) for box in boxes])

    def top(self) -> float:
        return min((min(ys) for _, ys in self.boxes), default=0.0)

    def bottom(self) -> float:
        return max((max(ys) for _, ys in self.boxes), default=0.0)

    def read(self, which: list[int]) -> list[TextLine]:
        """The lines `which` recognised, each character checked for confidence."""
        if not which:
            return []
        started = time.process_time()
        recognised, _ = engine().text_rec([self.crops[index] for index in which], True)
        logger.info("OCR CPU: reading %s lines %.2f s", len(which), time.process_time() - started)
        lines = []
        for index, found in zip(which, recognised):
            text = _certain(str(found[0]), found[2][4] if len(found) > 2 and found[2] else [])
            if text.strip():
                xs, ys = self.boxes[index]
                lines.append(TextLine(text, float(found[1]), min(xs), min(ys), max(xs), max(ys)))
        return lines

    def band(self, share: float) -> tuple[list[int], list[int]]:
        """The lines whose centres lie in the top `share` of the text, and the others."""
        limit = self.top() + share * (self.bottom() - self.top())
        upper = [index for index, (_, ys) in enumerate(self.boxes) if (min(ys) + max(ys)) / 2 <= limit]
        taken = set(upper)
        return upper, [index for index in range(len(self.boxes)) if index not in taken]


def recognise(image: Any) -> list[TextLine]:
    """The page's text lines, upright and straightened, each with its recognition score."""
    page = Page.found(image)
    return page.read(list(range(len(page.boxes))))


def _detected(ocr: Any, pixels: Any) -> list[Any]:
    import numpy as np

    boxes, _ = ocr.text_det(pixels)
    return [] if boxes is None else [np.asarray(box, dtype=np.float32) for box in boxes[:MAX_BOXES]]


def _certain(text: str, confidences: list[float]) -> str:
    """The text with each letter or digit recognised below CHAR_MIN replaced by U+FFFD, which no label and
    no value holds: a digit the model was unsure of makes its value unreadable, never another value. An
    unsure gap or dash stays (a table line through a check code): a digit taken for one leaves the value
    a digit short, which its length check refuses."""
    if len(confidences) != len(text):
        return text
    return "".join(char if confidence >= CHAR_MIN or not char.isalnum() else UNSURE
                   for char, confidence in zip(text, confidences))


def _edges(box: Any) -> tuple[float, float]:
    """A detected box's length along its text and across it (points: top-left, top-right, bottom-right…)."""
    import numpy as np

    return float(np.linalg.norm(box[1] - box[0])), float(np.linalg.norm(box[3] - box[0]))


def _sideways(boxes: list[Any]) -> bool:
    """Whether most lines of text run up or down the image (a photo turned a quarter)."""
    tall = wide = 0
    for box in boxes:
        along, across = _edges(box)
        if along > 2 * across:
            wide += 1
        elif across > 2 * along:
            tall += 1
    return tall > wide


def _ordered(points: Any) -> Any:
    """Four corners in the detector's order: top-left, top-right, bottom-right, bottom-left."""
    import numpy as np

    by_x = sorted(points.tolist(), key=lambda point: point[0])
    left = sorted(by_x[:2], key=lambda point: point[1])
    right = sorted(by_x[2:], key=lambda point: point[1])
    return np.array([left[0], right[0], right[1], left[1]], dtype=np.float32)


def _tilt(boxes: list[Any]) -> float:
    """The median slope (radians) of the long lines: a photo taken a little askew."""
    angles = []
    for box in boxes:
        along, across = _edges(box)
        if along > 4 * across:
            dx, dy = float(box[1][0] - box[0][0]), float(box[1][1] - box[0][1])
            angles.append(math.atan(dy / dx) if dx else 0.0)
    return statistics.median(angles) if angles else 0.0


def _straightened(box: Any, tilt: float, cx: float, cy: float) -> tuple[list[float], list[float]]:
    """The box's corners turned back by the page's tilt around its centre."""
    cos, sin = math.cos(-tilt), math.sin(-tilt)
    xs, ys = [], []
    for x, y in box.tolist():
        dx, dy = x - cx, y - cy
        xs.append(cx + dx * cos - dy * sin)
        ys.append(cy + dx * sin + dy * cos)
    return xs, ys


ROW_TOLERANCE = 0.9
"""How far (in line heights) a value's centre may be above or below its label's: a dot-matrix printer
prints the values a little off the pre-printed labels, and a photo's rows wander."""
WORDS = "零壹贰叁肆伍陆柒捌玖拾佰仟万亿圆元角分整"
OCR_LABELS = (*LABELS, *PAPER_LABELS, Label(("words",), ("(大写)",), WORDS, reach=None))


def line_text(line: TextLine) -> str:
    """A line's text as typed text is read (full-width forms, ¥ for OCR's Y)."""
    return _CURRENCY_LOOKALIKE.sub("¥", normalise_text(line.text))


def glyphs_of(lines_read: list[TextLine]) -> tuple[list[Glyph], dict[int, tuple[int, int]]]:
    """Each line's characters spread over its box (a CJK character twice as wide as a digit), and for
    each glyph (by id) its line and the position after it in the line's text."""
    glyphs: list[Glyph] = []
    owner: dict[int, tuple[int, int]] = {}
    for index, line in enumerate(lines_read):
        text = line_text(line)
        widths = [1.0 if ord(char) > 0x2E80 else 0.55 for char in text]
        unit = (line.x1 - line.x0) / max(sum(widths), 0.1)
        x = line.x0
        for position, (char, share) in enumerate(zip(text, widths)):
            if not char.isspace():
                glyph = Glyph(char, x, line.y0, x + share * unit, line.y1)
                glyphs.append(glyph)
                owner[id(glyph)] = (index, position + 1)
            x += share * unit
    return glyphs, owner


def labelled(lines_read: list[TextLine], labels: tuple[Label, ...] = OCR_LABELS) -> list[tuple[str, str]]:
    """(field, value) for each value printed right of its label: labels are found in rows of characters
    like a PDF's (a label split over two boxes, 合 … 计, included); values are whole recognised lines."""
    glyphs, owner = glyphs_of(lines_read)
    pairs: list[tuple[str, str]] = []
    for row in lines(glyphs):
        text = "".join(glyph.text for glyph in row)
        for label in labels:
            for word in label.words:
                for match in re.finditer(re.escape(word), text):
                    if text[:match.start()].endswith(label.not_after):
                        continue
                    end = row[match.end() - 1]
                    index, after = owner[id(end)]
                    pairs += zip(label.fields, _values(lines_read, index, after, end, label))
    return pairs


def _values(lines_read: list[TextLine], index: int, after: int, end: Glyph, label: Label) -> list[str]:
    """The values of a label whose last character is `end` (in line `index`, before `after`): the rest
    of its own line, then the lines starting right of it on its row, in order, that have the value's shape."""
    own = lines_read[index]
    height = own.y1 - own.y0
    centre = (own.y0 + own.y1) / 2
    right = sorted((line for number, line in enumerate(lines_read) if number != index
                    and line.x0 >= end.x1 - height / 2
                    and abs((line.y0 + line.y1) / 2 - centre) <= ROW_TOLERANCE * max(height, line.y1 - line.y0)
                    and (label.reach is None or line.x0 - end.x1 <= label.reach * height)), key=lambda line: line.x0)
    candidates = [(line_text(own)[after:], own), *((line_text(line), line) for line in right)]
    values: list[str] = []
    for place, (candidate, line) in enumerate(candidates):
        allowed = label.allowed + ("-" if label.fields == ("check_code",) else "")  # a table line through it
        token = _shaped(candidate, allowed)
        if not token:
            if values or place > 0:
                break  # a value is the next thing right of its label (or of the value before)
            continue
        if label.fields == ("check_code",):  # 20 digits in groups: the detector may split them
            token += _continued(candidates[place + 1:], line, allowed)
        values.append(token)
        if len(values) == len(label.fields):
            break
    return values


def _continued(after: list[tuple[str, TextLine]], line: TextLine, allowed: str) -> str:
    """The digits of the lines right after `line` that continue its value (no wider gap than a line height)."""
    joined = ""
    for text, following in after:
        token = _shaped(text, allowed)
        if not token or following.x0 - line.x1 > line.y1 - line.y0:
            break
        joined += token
        line = following
    return joined


def _shaped(text: str, allowed: str) -> str:
    """The start of `text` (after separators) made of the value's characters, spaces inside dropped."""
    text = text.lstrip(" :：⊗ⓧ⊕×")  # ⊗ leads the 价税合计 in words
    end = 0
    while end < len(text) and (text[end] in allowed or text[end] == " "):
        end += 1
    value = text[:end].replace(" ", "")
    return value if any(char.isdigit() or char in WORDS for char in value) else ""


def paper_sources(lines_read: list[TextLine], today: date) -> list[dict[str, str]]:
    """The values read right of labels, and what paper invoices print besides: the code printed twice
    (once at the top left, once beside 发票代码) and the 价税合计 in words (大写)."""
    pairs = labelled(lines_read)
    alone = Counter(compact for line in lines_read if (compact := re.sub(r"\s", "", line_text(line))).isdigit())
    codes = {value for value, times in alone.items() if times >= 2 and validate_code(value)[0] is not None}
    if len(codes) == 1:
        pairs.append(("code", codes.pop()))
    numbers = {value for value, times in alone.items() if times >= 2 and len(value) == 8
               and validate_number(value)[0] is not None}
    if len(numbers) == 1:
        pairs.append(("number", numbers.pop()))
    for name, value in list(pairs):
        if name == "words":
            amount = whole_amount(value.strip("整"))
            if amount is not None and amount.figure is not None and amount.chinese:
                pairs.append(("total", amount.figure))
    return single_field_sources(((name, value) for name, value in pairs if name != "words"), today)


def money(sources: list[dict[str, str]]) -> dict[str, str]:
    """The money read, only where it checks: amount + tax = total, all three read; or the total read
    twice alike (in words and in figures). A misread digit in money never passes as a plain figure."""
    values = {name: [source[name] for source in sources if name in source] for name in MONEY_FIELDS}
    if any(len(set(found)) > 1 for found in values.values()):
        logger.info("OCR: money read two ways: left to type")
        return {}
    amount, tax, total = (Decimal(found[0]) if found else None for found in values.values())
    if amount is not None and tax is not None and total is not None:
        return {"amount": f"{amount:.2f}", "total": f"{total:.2f}"} if amount + tax == total else {}
    return {"total": f"{total:.2f}"} if total is not None and len(values["total"]) >= 2 else {}


def checked(fields: dict[str, str]) -> dict[str, str]:
    """The fields, less the code (or 数电 number) and the date when they cannot both be right: a paper
    code's year is its print batch's, never after the issue date; a 数电 number's is the issue year."""
    year = code_year(fields.get("code"), fields.get("number"))
    if year is None or "date" not in fields:
        return fields
    issued = int(fields["date"][:4])
    digital = len(fields.get("number", "")) == 20
    if (2000 + year == issued) if digital else (2000 + year <= issued):
        return fields
    identifier = "number" if digital else "code"
    logger.info("OCR: the %s's year does not fit the date: both left to type", identifier)
    return {name: value for name, value in fields.items() if name not in (identifier, "date")}


def read_fields(image: Any, today: date) -> dict[str, str]:
    """The invoice fields the printed text gives (validated and merged), or {} when it gives no number.

    The head of the page is read first (title, code, number, date, check code): a head without 发票 in
    its title is no invoice's, and when the head gives every field its family needs, the rest (parties,
    items, cipher zone) is never recognised, which halves the time of an ordinary invoice; otherwise the
    whole page is read, the head's lines once."""
    page = Page.found(image)
    head, rest = page.band(HEAD_SHARE)
    lines = page.read(head)
    if not any("发票" in line.text for line in lines if line.score >= MIN_SCORE):
        logger.info("OCR: the head of the page never says 发票: the rest is not read")
        return {}
    fields = fields_from_lines(lines, today)
    if _complete(fields):
        return fields
    return fields_from_lines(lines + page.read(rest), today)


def _complete(fields: dict[str, str]) -> bool:
    """Whether the fields are all the verification asks for this family (facts §1)."""
    family = family_of(fields.get("code"), fields.get("number"))
    needed = fourth_field(family) if family else None
    return bool(needed) and all(name in fields for name in ("number", "date", needed or ""))


def fields_from_lines(lines_read: list[TextLine], today: date) -> dict[str, str]:
    """The fields recognised lines give: only lines read with a high score, only on a page that says 发票;
    every value validated, money only where it adds up, the code's year fitting the date."""
    trusted = [line for line in lines_read if line.score >= MIN_SCORE]
    if len(trusted) < MIN_LINES or not any("发票" in line.text for line in trusted):
        logger.info("OCR: %s of %s lines trusted, none says 发票: not taken for an invoice", len(trusted),
                    len(lines_read))
        return {}
    sources = paper_sources(trusted, today)
    plain = [{name: value for name, value in source.items() if name not in MONEY_FIELDS} for source in sources]
    fields = checked(tidy({**merge(plain), **money(sources)}))
    logger.info("OCR read %s lines (%s trusted): %s", len(lines_read), len(trusted),
                ", ".join(sorted(fields)) or "nothing")
    return fields if "number" in fields else {}
