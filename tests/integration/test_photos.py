"""Photos and scans of paper invoices: QR search at every scale, then OCR of the printed fields.

Three kinds of test. Generated photos of a real paper invoice from ../shared/realdocs (turned, scaled,
askew, blurred, recompressed, printed and scanned into a PDF), skipped where the folder is absent: never
a wrong field, and the invoices complete. A synthetic page in Latin letters and digits (no CJK font is
needed) for the OCR's orientation handling on any machine. And the conversation: what OCR read is always
confirmed, on a card that says it was read from the photo's printed text.
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont, ImageOps

from assistant.domain.documents import ReadError, read_document
from assistant.runtime.file_reader import FileRead
from bench.realdocs import DEFAULT_FOLDER, PHOTO_VARIANTS, score, scanned_pdf
from tests.conftest import Chat
from tests.factories import add_invoices, add_user, code12, invoice
from tests.integration.test_reading import attachment

TODAY = date(2026, 12, 2)
ENTRIES = json.loads((DEFAULT_FOLDER / "truth.json").read_text(encoding="utf-8")) \
    if (DEFAULT_FOLDER / "truth.json").exists() else []
real = pytest.mark.skipif(not ENTRIES, reason="no ../shared/realdocs here")


def _entry(fragment: str) -> dict[str, Any]:
    return next(entry for entry in ENTRIES if fragment in entry["file"])


def _read(data: bytes, name: str = "photo.jpg") -> FileRead:
    try:
        result = read_document(data, file_name=name, mime_type="", kind="document", today=TODAY)
    except ReadError as error:
        return FileRead(reason=error.reason)
    return FileRead(fields=result.fields, source=result.source)


def _jpeg(image: Image.Image, quality: int = 88) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


# -- a real paper invoice, photographed again and again -------------------------------------------------
@real
def test_the_rotated_paper_invoice_whose_qr_never_decodes_is_read_from_its_text() -> None:
    entry = _entry("i06_")
    read = _read((DEFAULT_FOLDER / entry["file"]).read_bytes())
    assert read.source == "ocr"
    assert score(entry["file"], entry["truth"], read).outcome == "correct", read


@real
@pytest.mark.parametrize("variant", ["turned", "half", "askew", "blurred", "recompressed"])
def test_photos_of_paper_invoices_are_never_read_wrong(variant: str) -> None:
    """Each paper invoice (the QR one and the text-only one), as another photo of it: nothing wrong."""
    for fragment in ("i04_", "i05_", "i06_"):
        entry = _entry(fragment)
        image = ImageOps.exif_transpose(Image.open(DEFAULT_FOLDER / entry["file"]))
        read = _read(PHOTO_VARIANTS[variant](image))
        verdict = score(f"{variant}:{entry['file']}", entry["truth"], read)
        assert verdict.outcome != "wrong", verdict
        if fragment != "i06_" and variant != "half":  # the photos with a readable QR stay complete
            assert verdict.outcome == "correct", verdict


@real
def test_the_text_only_invoice_upside_down_and_turned_the_other_way_is_read() -> None:
    entry = _entry("i06_")
    image = ImageOps.exif_transpose(Image.open(DEFAULT_FOLDER / entry["file"]))
    for angle in (180, 270):
        read = _read(_jpeg(image.rotate(angle, expand=True)))
        verdict = score(entry["file"], entry["truth"], read)
        assert verdict.outcome != "wrong", verdict
        assert {"code", "number"} <= set(read.fields), (angle, read)


@real
def test_an_image_only_scan_is_read_like_a_photo() -> None:
    entry = _entry("i06_")
    image = ImageOps.exif_transpose(Image.open(DEFAULT_FOLDER / entry["file"]))
    read = _read(scanned_pdf(image), name="scan.pdf")
    assert read.source == "pdf_ocr"
    assert score(entry["file"], entry["truth"], read).outcome == "correct", read
    qr_scan = _entry("i05_")
    read = _read(scanned_pdf(Image.open(DEFAULT_FOLDER / qr_scan["file"])), name="scan.pdf")
    assert read.source == "pdf_qr" and score(qr_scan["file"], qr_scan["truth"], read).outcome == "correct"


@real
def test_the_tiny_qr_of_a_low_resolution_image_is_decoded() -> None:
    entry = _entry("i11_")
    read = _read((DEFAULT_FOLDER / entry["file"]).read_bytes())
    assert read.source == "qr" and score(entry["file"], entry["truth"], read).outcome == "correct"


# -- a synthetic page, on any machine ---------------------------------------------------------------------
SYNTHETIC = ["INVOICE No 43750420", "CODE 012001800104", "DATE 2019-07-31", "TOTAL 146.00"]


def synthetic_page() -> Image.Image:
    """A white page of four printed lines (Pillow's own font: no CJK font needed), a photo's size."""
    font = ImageFont.load_default(size=44)
    image = Image.new("RGB", (1400, 900), (246, 245, 240))
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(SYNTHETIC):
        draw.text((120 + 60 * row, 120 + 170 * row), text, fill=(30, 30, 40), font=font)
    return image


@pytest.mark.parametrize("angle", [0, 90, 180, 270])
def test_ocr_turns_the_page_upright_whichever_way_it_was_photographed(angle: int) -> None:
    from assistant.domain.ocr import recognise

    lines = recognise(synthetic_page().rotate(angle, expand=True))
    found = {expected: line for expected in SYNTHETIC for line in lines
             if line.text.replace(" ", "") == expected.replace(" ", "")}
    assert set(found) == set(SYNTHETIC), [line.text for line in lines]
    tops = [found[text].y0 for text in SYNTHETIC]
    lefts = [found[text].x0 for text in SYNTHETIC]
    assert tops == sorted(tops) and lefts == sorted(lefts), (tops, lefts)  # top to bottom, stepping right


def test_a_page_that_is_not_an_invoice_is_refused_after_ocr() -> None:
    """The synthetic page reads well but never says 发票: no field is offered."""
    assert _read(_jpeg(synthetic_page())).reason == "no_qr"


# -- a rendered Chinese invoice, where the machine has a CJK font -----------------------------------------
CJK_FONTS = ["/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
             "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"]
CJK_FONT = next((path for path in CJK_FONTS if Path(path).exists()), None)


def rendered_invoice(issued: date, code: str = "011001800104") -> Image.Image:
    """A paper 增值税普通发票 as a phone sees it: labels printed, values a little off them (dot-matrix), the
    buyer's tax id, the machine number and a cipher zone as decoys, money in figures and in words."""
    font = ImageFont.truetype(CJK_FONT or "", 30)
    big = ImageFont.truetype(CJK_FONT or "", 40)
    image = Image.new("RGB", (1600, 1000), (244, 242, 236))
    draw = ImageDraw.Draw(image)

    def text(x: int, y: int, value: str, size: Any = font) -> None:
        draw.text((x, y), value, fill=(25, 25, 35), font=size)

    special = len(code) == 10
    text(560, 40, f"北京增值税{'专用' if special else '普通'}发票", big)
    text(120, 60, code, big)
    text(1080, 50, "No 61234567", big)
    text(1080, 110, "发票代码"), text(1230, 116, code)
    text(1080, 150, "发票号码"), text(1230, 156, "61234567")
    text(1080, 190, "开票日期："), text(1240, 198, f"{issued:%Y年%m月%d日}")
    if not special:
        text(120, 150, "校验码 12345 67890 12345 67890")
    text(120, 190, "机器编号：499099801839")
    text(640, 330, "03-7+<74<82915+4<745<587483>4")
    text(120, 260, "纳税人识别号：91110108MA01ABCD3X")
    text(120, 300, "地址、电话：北京市海淀区中关村大街1号 62345678")
    text(150, 560, "合"), text(300, 560, "计"), text(900, 568, "¥141.75"), text(1250, 570, "¥4.25")
    text(120, 640, "价税合计（大写）"), text(420, 648, "⊗壹佰肆拾陆圆整")
    text(1000, 640, "（小写）"), text(1130, 648, "¥146.00")
    return image


@pytest.mark.skipif(CJK_FONT is None, reason="no CJK font on this machine")
@pytest.mark.parametrize("angle", [0, 90, 180])
def test_a_rendered_paper_invoice_photo_is_read_from_its_text(angle: int) -> None:
    """An ordinary invoice: its head gives every field it needs (the check code); money is not read."""
    issued = date(2025, 6, 3)
    photo = rendered_invoice(issued).rotate(angle + 1.5, expand=True, fillcolor=(90, 90, 90))
    read = _read(_jpeg(photo, quality=80))
    assert read.source == "ocr"
    assert read.fields == {"code": "011001800104", "number": "61234567", "date": issued.isoformat(),
                           "check_code": "567890"}, read


@pytest.mark.skipif(CJK_FONT is None, reason="no CJK font on this machine")
def test_a_rendered_special_invoice_photo_gives_its_amount_only_where_it_adds_up() -> None:
    issued = date(2025, 6, 3)
    photo = rendered_invoice(issued, code="1100191130").rotate(-2, expand=True, fillcolor=(90, 90, 90))
    read = _read(_jpeg(photo, quality=80))
    assert read.fields == {"code": "1100191130", "number": "61234567", "date": issued.isoformat(),
                           "amount": "141.75", "total": "146.00"}, read


# -- the conversation: always confirmed, and said to be read from the printed text ----------------------
class PrintedTextReader:
    """A reader that read a photo's printed text (as the isolated reader reports it); records the files."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.fields = fields
        self.files: list[bytes] = []

    async def read(self, data: bytes, **_: Any) -> FileRead:
        self.files.append(data)
        return FileRead(fields=dict(self.fields), source="ocr")


@pytest.mark.parametrize(("language", "said", "asked"), [
    ("zh", "照片上印的文字", "请发送<b>发票号码</b>"), ("en", "printed text in your photo", "<b>invoice number</b>")])
async def test_fields_read_by_ocr_are_shown_to_confirm_and_said_to_come_from_the_text(
        assistant, sessions, clock, language: str, said: str, asked: str) -> None:
    issued = clock.today - timedelta(days=40)
    code = code12(issued)
    await add_user(sessions, clock.now, language=language)
    await add_invoices(sessions, clock.now, invoice(code, "43750420", issued))
    reader = PrintedTextReader({"code": code, "number": "43750420", "date": issued.isoformat(),
                                "check_code": "567890"})
    assistant.reader = reader
    chat = Chat(assistant, language=language)
    text = await chat.send_attachment_data(attachment(b"\xff\xd8\xff\xe0 a photo"))
    assert said in text and f"<code>{code}</code>" in text and "<code>43750420</code>" in text
    assert chat.buttons == ["yes", "no", "menu"] and reader.files
    # Nothing is checked before the merchant says yes; "no" leaves every field to type.
    assert asked in await chat.press("no")


async def test_fields_read_from_a_qr_code_keep_the_plain_card(assistant, sessions, clock) -> None:
    issued = clock.today - timedelta(days=40)
    await add_user(sessions, clock.now)
    reader = PrintedTextReader({"code": code12(issued), "number": "43750420", "date": issued.isoformat()})
    assistant.reader = reader

    async def from_qr(data: bytes, **_: Any) -> FileRead:
        return FileRead(fields=dict(reader.fields), source="qr")
    reader.read = from_qr  # type: ignore[method-assign]
    text = await Chat(assistant).send_attachment_data(attachment(b"\xff\xd8\xff\xe0 a photo"))
    assert "我从发票中读到了" in text and "印的文字" not in text
