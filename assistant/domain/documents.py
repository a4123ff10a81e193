"""Read invoice identifiers from what merchants already have: QR photos, PDF, OFD and XML e-invoices.

This module holds the limits, the QR code and image readers and the dispatch; `pdf`, `ofd` and
`invoice_xml` read their formats. Everything works on bytes in memory; nothing is written anywhere.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from assistant.domain.identifiers import Family, family_of, fourth_field, validate_code, validate_number
from assistant.domain.invoice_fields import normalise

logger = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 5
MAX_RENDER_PIXELS = 8_000_000
"""Pixels one PDF page is rendered to at most, whatever its size in points (A4 at scale 3 is 4.5 M)."""
PDF_SCALE = 3.0
MAX_IMAGE_PIXELS = 25_000_000
"""Larger JPEGs are reduced while decoding (Pillow's draft); other larger images are refused."""
MIN_OCR_SIDE = 200
"""An image narrower than this has no printed invoice to read (a sticker, an icon)."""
BLANK_CONTRAST = 48
"""Grey levels between an image's darkest and lightest parts below which it holds no print to read."""
MAX_XML_BYTES = 5 * 1024 * 1024
"""An invoice's XML is a few KB; larger XML (alone or inside an OFD) is not parsed."""
# QR type field (facts §4) -> our family where the code alone cannot tell.
QR_TYPES = {"01": "special", "02": "special", "04": "ordinary", "10": "e_ordinary", "11": "roll", "14": "toll",
            "31": "digital", "32": "digital"}


class ReadError(Exception):
    """Why a file could not be read: too_large, too_complex, encrypted, corrupt, not_invoice, no_qr,
    unsupported, hostile (a zip bomb, XML entities), missing (a path typed in the terminal names no file)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ReadResult:
    """Fields read from a document, already validated and normalised like typed ones."""

    fields: dict[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def usable(self) -> bool:
        return "number" in self.fields


def parse_qr(payload: str, today: date) -> dict[str, str] | None:
    """The fields of an invoice QR code ("01,10,code,number,amount,YYYYMMDD,check,crc"), or None."""
    parts = [part.strip() for part in payload.strip().split(",")]
    if len(parts) < 7 or parts[0] != "01":
        return None
    kind, code_raw, number_raw, amount_raw, date_raw, check_raw = parts[1:7]
    number, _ = validate_number(number_raw)
    if number is None:
        return None
    raw = {"number": number, "date": date_raw, "check_code": check_raw}
    if code_raw and len(number) != 20:
        code, _ = validate_code(code_raw)
        if code is None:
            return None
        raw["code"] = code
    family = family_of(raw.get("code"), number) or QR_TYPES.get(kind)
    if amount_raw:
        # For 数电票 the QR amount is the total; for others parsers disagree, so it is shown as the amount
        # excluding tax only where that is what the family asks for (the user confirms it).
        raw["total" if family == "digital" else "amount"] = amount_raw
    fields = normalise(raw, today)
    if (fourth_field(cast(Family, family)) if family else None) == "check_code":
        fields.pop("amount", None)
    return fields


def decode_qr_payloads(image: Any) -> list[str]:
    """Every QR text found in the whole image and its quick variants (an image inside a PDF, a rendered
    page); a photo is searched region by region too (`read_picture`)."""
    from assistant.domain.qr_search import search

    return search(image, thorough=False)


def open_image(data: bytes) -> "object":
    """Decode an image within the pixel budget: the header is checked before any pixel is decoded."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS * 4  # Pillow's own bomb check, behind ours
    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            if image.format != "JPEG":
                logger.info("image of %sx%s px refused: over the pixel budget", width, height)
                raise ReadError("too_complex")
            factor = math.ceil(math.sqrt(width * height / MAX_IMAGE_PIXELS))
            image.draft("RGB", (width // factor, height // factor))  # JPEG decodes at 1/2, 1/4 or 1/8
            if image.size[0] * image.size[1] > MAX_IMAGE_PIXELS:
                raise ReadError("too_complex")
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise ReadError("corrupt") from error
    return image


def qr_sources(images: list[Any], today: date) -> list[dict[str, str]]:
    """The fields of every invoice QR code found in the images."""
    return [fields for image in images for payload in decode_qr_payloads(image)
            if (fields := parse_qr(payload, today))]


def read_image(data: bytes, today: date) -> ReadResult:
    from PIL import ImageOps

    check_size(data)
    image: Any = open_image(data)
    try:
        image = ImageOps.exif_transpose(image)  # a phone stores its photo sideways and says so in EXIF
    except Exception as error:  # noqa: BLE001 - a broken EXIF block: the pixels as stored, turned by their text
        logger.info("EXIF orientation not read: %s", error)
    fields, how = read_picture(image, today)
    if not fields:
        raise ReadError("no_qr")
    return ReadResult(fields, how)


def read_picture(image: Any, today: date) -> tuple[dict[str, str], str]:
    """A photo's or a scanned page's fields and how they were read: the invoice QR code, searched at
    every scale ("qr"); failing that, the printed text ("ocr"). ({}, "") when neither gives a number."""
    from assistant.domain.qr_search import search

    image = image.convert("RGB")
    for payload in search(image, lambda text: parse_qr(text, today) is not None):
        if fields := parse_qr(payload, today):
            return fields, "qr"
    if min(image.size) < MIN_OCR_SIDE or _blank(image):
        return {}, ""
    from assistant.domain.ocr import read_fields

    try:
        fields = read_fields(image, today)
    except MemoryError:
        raise
    except Exception as error:  # noqa: BLE001 - a native library's failure: the fields are typed instead
        logger.warning("OCR failed: %s: %s", type(error).__name__, str(error)[:200])
        fields = {}
    return (fields, "ocr") if fields else ({}, "")


def _blank(image: Any) -> bool:
    """Whether the image has no ink to read (one colour, give or take the noise of a camera)."""
    from PIL import ImageOps

    thumbnail = ImageOps.grayscale(image)
    thumbnail.thumbnail((256, 256))
    low, high = thumbnail.getextrema()  # one band: (lowest, highest)
    return int(high) - int(low) < BLANK_CONTRAST  # type: ignore[arg-type]


def render_scale(width_pt: float, height_pt: float) -> float:
    """The scale that renders a page of this size within MAX_RENDER_PIXELS (at most PDF_SCALE)."""
    area = max(width_pt, 1.0) * max(height_pt, 1.0)
    return min(PDF_SCALE, math.sqrt(MAX_RENDER_PIXELS / area))


def check_size(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise ReadError("too_large")
    if not data:
        raise ReadError("corrupt")


def read_document(data: bytes, *, file_name: str, mime_type: str, kind: str, today: date) -> ReadResult:
    """Dispatch on what the file is (its first bytes first, then its name and type)."""
    name = file_name.lower()
    if kind == "photo" or mime_type.startswith("image/") or data[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0",
                                                                            b"\xff\xd8\xff\xe1", b"\xff\xd8\xff\xdb"):
        return read_image(data, today)
    if data[:5] == b"%PDF-" or name.endswith(".pdf") or mime_type == "application/pdf":
        from assistant.domain.pdf import read_pdf

        return read_pdf(data, today)
    if data[:2] == b"PK" or name.endswith(".ofd"):
        from assistant.domain.ofd import read_ofd

        return read_ofd(data, today)
    if data.lstrip()[:1] == b"<" or name.endswith(".xml") or "xml" in mime_type:
        from assistant.domain.invoice_xml import read_xml

        return read_xml(data, today)
    raise ReadError("unsupported")
