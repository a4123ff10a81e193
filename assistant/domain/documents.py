"""Read invoice identifiers from what merchants already have: QR photos, PDF, OFD and XML e-invoices.

Everything works on bytes in memory; nothing is written anywhere.
"""

from __future__ import annotations

import io
import logging
import math
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from xml.etree import ElementTree

from assistant.domain.extract import extract
from assistant.domain.identifiers import (
    compact,
    family_of,
    fourth_field,
    validate_check_code,
    validate_code,
    validate_date,
    validate_money,
    validate_number,
)

logger = logging.getLogger(__name__)

MAX_BYTES = 20 * 1024 * 1024
MAX_PDF_PAGES = 5
MAX_RENDER_PIXELS = 8_000_000
"""Pixels one PDF page is rendered to at most, whatever its size in points (A4 at scale 3 is 4.5 M)."""
PDF_SCALE = 3.0
MAX_IMAGE_PIXELS = 25_000_000
"""Larger JPEGs are reduced while decoding (Pillow's draft); other larger images are refused."""
MAX_XML_BYTES = 5 * 1024 * 1024
"""An invoice's XML is a few KB; larger XML (alone or inside an OFD) is not parsed."""
MAX_ZIP_ENTRIES = 500
MAX_ZIP_TOTAL = 50 * 1024 * 1024
"""Uncompressed bytes an OFD may unpack to, in all."""
MAX_ZIP_RATIO = 200
"""Uncompressed / compressed size of one entry above which it is taken for a zip bomb."""

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


def parse_qr(payload: str, today: date, max_years: int = 5) -> dict[str, str] | None:
    """The fields of an invoice QR code ("01,10,code,number,amount,YYYYMMDD,check,crc"), or None."""
    parts = [part.strip() for part in payload.strip().split(",")]
    if len(parts) < 7 or parts[0] != "01":
        return None
    kind, code_raw, number_raw, amount_raw, date_raw, check_raw = parts[1:7]
    number, problems = validate_number(number_raw)
    if number is None:
        return None
    fields: dict[str, str] = {"number": number}
    if code_raw and len(number) != 20:
        code, problems = validate_code(code_raw)
        if code is None:
            return None
        fields["code"] = code
    issued, problems = validate_date(date_raw, today, max_years)
    if issued is not None:
        fields["date"] = issued
    family = family_of(fields.get("code"), number) or QR_TYPES.get(kind)
    amount, _ = validate_money(amount_raw, "amount") if amount_raw else (None, [])
    if amount is not None:
        # For 数电票 the QR amount is the total; for others parsers disagree, so it is shown as the amount
        # excluding tax only where that is what the family asks for (the user confirms it).
        fields["total" if family == "digital" else "amount"] = amount
    if check_raw:
        check, _ = validate_check_code(check_raw)
        if check is not None:
            fields["check_code"] = check
    wanted = fourth_field(family) if family else None
    if wanted == "check_code":
        fields.pop("amount", None)
    return fields


def _images_for_decoding(image: "object") -> list["object"]:
    """The photo as it is, then versions that help with low contrast, small codes and blur."""
    from PIL import ImageFilter, ImageOps

    gray = ImageOps.grayscale(image)  # type: ignore[arg-type]
    variants = [image, ImageOps.autocontrast(gray, cutoff=2)]
    width, height = gray.size
    if max(width, height) < 1000:
        variants.append(ImageOps.autocontrast(gray.resize((width * 3, height * 3)), cutoff=2))
    variants.append(ImageOps.autocontrast(gray, cutoff=2).filter(ImageFilter.SHARPEN))
    variants.append(ImageOps.equalize(gray))
    if max(width, height) > 2500:
        scale = 2000 / max(width, height)
        variants.append(gray.resize((int(width * scale), int(height * scale))))
    return variants


def decode_qr_payloads(image: "object") -> list[str]:
    """Every QR text zxing-cpp finds, trying the variants in turn (rotation is handled by zxing)."""
    import zxingcpp

    for variant in _images_for_decoding(image):
        found = [result.text for result in zxingcpp.read_barcodes(variant, formats=zxingcpp.BarcodeFormat.QRCode,
                                                                  try_rotate=True, try_downscale=True)]
        if found:
            return found
    return []


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


def read_image(data: bytes, today: date) -> ReadResult:
    _check_size(data)
    image: Any = open_image(data)
    for payload in decode_qr_payloads(image.convert("RGB")):
        fields = parse_qr(payload, today)
        if fields:
            return ReadResult(fields, "qr")
    raise ReadError("no_qr")


def render_scale(width_pt: float, height_pt: float) -> float:
    """The scale that renders a page of this size within MAX_RENDER_PIXELS (at most PDF_SCALE)."""
    area = max(width_pt, 1.0) * max(height_pt, 1.0)
    return min(PDF_SCALE, math.sqrt(MAX_RENDER_PIXELS / area))


def read_pdf(data: bytes, today: date) -> ReadResult:
    import pypdfium2

    _check_size(data)
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        raise ReadError("encrypted" if "password" in str(error).lower() else "corrupt") from error
    try:
        text_fields: dict[str, str] = {}
        for index in range(min(len(document), MAX_PDF_PAGES)):
            page = document[index]
            image = page.render(scale=render_scale(*page.get_size())).to_pil()
            for payload in decode_qr_payloads(image):
                fields = parse_qr(payload, today)
                if fields:
                    return ReadResult(fields, "pdf_qr")
            text = page.get_textpage().get_text_range()
            if not text_fields:
                text_fields = extract(text, awaiting=None, known={}, today=today, max_years=5).values
    finally:
        document.close()
    if "number" in text_fields:
        return ReadResult(text_fields, "pdf_text")
    raise ReadError("not_invoice")


# Tag names (local part, case folded) of the XML inside OFD invoices and 数电票 XML files.
XML_TAGS = {
    "invoicecode": "code", "发票代码": "code", "fpdm": "code",
    "invoiceno": "number", "invoicenumber": "number", "发票号码": "number", "fphm": "number", "eiid": "number",
    "issuedate": "date", "issuetime": "date", "开票日期": "date", "kprq": "date", "requesttime": "date",
    "totalamwithouttax": "amount", "totalamount": "amount", "合计金额": "amount", "hjje": "amount",
    "totaltax-includedamount": "total", "taxinclusivetotalamount": "total", "价税合计": "total", "jshj": "total",
    "checkcode": "check_code", "校验码": "check_code", "jym": "check_code",
}


def _fields_from_xml(root: ElementTree.Element, today: date) -> dict[str, str]:
    raw: dict[str, str] = {}
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower()
        name = XML_TAGS.get(tag)
        text = (element.text or "").strip()
        if name and text and name not in raw:
            raw[name] = text
        # OFD custom tags: <ofd:Tag Name="发票号码">…</ofd:Tag> or attributes
        label = (element.get("Name") or element.get("name") or "").strip().lower()
        if label in XML_TAGS and text and XML_TAGS[label] not in raw:
            raw[XML_TAGS[label]] = text
    fields: dict[str, str] = {}
    number, _ = validate_number(raw.get("number", ""))
    if number is None:
        return {}
    fields["number"] = number
    if raw.get("code") and len(number) != 20:
        code, _ = validate_code(raw["code"])
        if code:
            fields["code"] = code
    if raw.get("date"):
        issued, _ = validate_date(re.split(r"[T ]", raw["date"].strip())[0], today, 5)
        if issued:
            fields["date"] = issued
    for name in ("amount", "total"):
        if raw.get(name):
            value, _ = validate_money(raw[name], name)
            if value:
                fields[name] = value
    if raw.get("check_code"):
        check, _ = validate_check_code(compact(raw["check_code"]))
        if check:
            fields["check_code"] = check
    return fields


def parse_xml(data: bytes) -> ElementTree.Element:
    """Parse XML of bounded size, refusing entity declarations (billion laughs, external entities)."""
    if len(data) > MAX_XML_BYTES:
        raise ReadError("too_complex")
    if b"<!ENTITY" in data or b"<!entity" in data:
        raise ReadError("hostile")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise ReadError("corrupt") from error


def read_xml(data: bytes, today: date) -> ReadResult:
    _check_size(data)
    root = parse_xml(data)
    fields = _fields_from_xml(root, today)
    if not fields:
        raise ReadError("not_invoice")
    return ReadResult(fields, "xml")


def read_ofd(data: bytes, today: date) -> ReadResult:
    """An OFD file is a zip of XML documents; the invoice fields are in one of them."""
    _check_size(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ReadError("corrupt") from error
    with archive:
        infos = archive.infolist()
        check_archive(infos)
        names = [info for info in infos if info.filename.lower().endswith(".xml")]
        if not names:
            raise ReadError("not_invoice")
        best: dict[str, str] = {}
        for info in names:
            if info.file_size > MAX_XML_BYTES:
                continue  # not an invoice's XML; never unpacked
            try:
                root = parse_xml(_unpack(archive, info))
            except ReadError as error:
                if error.reason == "hostile":
                    raise
                continue
            except (zipfile.BadZipFile, RuntimeError, OSError, EOFError, zlib.error):
                continue
            fields = _fields_from_xml(root, today)
            if len(fields) > len(best):
                best = fields
    if not best:
        raise ReadError("not_invoice")
    return ReadResult(best, "ofd")


def check_archive(infos: list[zipfile.ZipInfo]) -> None:
    """Refuse an archive before unpacking anything: too many entries, too much data, bomb-like ratios."""
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ReadError("hostile")
    if any(info.flag_bits & 0x1 for info in infos):
        raise ReadError("encrypted")
    if sum(info.file_size for info in infos) > MAX_ZIP_TOTAL:
        raise ReadError("hostile")
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise ReadError("hostile")


def _unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's content, read with a cap: sizes in the archive's directory may lie."""
    with archive.open(info) as entry:
        data = entry.read(MAX_XML_BYTES + 1)
    if len(data) > MAX_XML_BYTES:
        raise ReadError("too_complex")
    return data


def _check_size(data: bytes) -> None:
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
        return read_pdf(data, today)
    if data[:2] == b"PK" or name.endswith(".ofd"):
        return read_ofd(data, today)
    if data.lstrip()[:1] == b"<" or name.endswith(".xml") or "xml" in mime_type:
        return read_xml(data, today)
    raise ReadError("unsupported")
