"""Read a PDF e-invoice: the QR code (embedded image first, rendered page second) and the labelled text.

The QR code is the invoice's own summary; the text layer is read label by label (`layout`). Both
are sources for `invoice_fields.merge`, so a text value that contradicts the QR is dropped. A PDF
whose text never says 发票 and has no invoice QR is not taken for an invoice, whatever digits it holds.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from assistant.domain.documents import (
    MAX_PDF_PAGES,
    ReadError,
    ReadResult,
    check_size,
    qr_sources,
    read_picture,
    render_scale,
)
from assistant.domain.invoice_fields import merge
from assistant.domain.layout import MAX_GLYPHS, Glyph, label_sources

logger = logging.getLogger(__name__)

MAX_IMAGES_PER_PAGE = 12
MAX_EMBEDDED_PIXELS = 4_000_000
"""Embedded images larger than this are photos or backgrounds, not a QR code; they are not decoded."""


def read_pdf(data: bytes, today: date) -> ReadResult:
    import pypdfium2

    check_size(data)
    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as error:
        raise ReadError("encrypted" if "password" in str(error).lower() else "corrupt") from error
    try:
        pages = [document[index] for index in range(min(len(document), MAX_PDF_PAGES))]
        from_qr: list[dict[str, str]] = []
        from_text: list[dict[str, str]] = []
        says_invoice = False
        has_text = False
        for page in pages:
            from_qr += qr_sources(_embedded_images(page, pypdfium2), today)
            glyphs = page_glyphs(page)
            has_text = has_text or bool(glyphs)
            says_invoice = says_invoice or "发票" in "".join(glyph.text for glyph in glyphs)
            from_text += label_sources(glyphs, today)
        if not from_qr:  # a QR drawn as vector graphics, or an image too large to be a QR alone
            for page in pages:
                from_qr += qr_sources([page.render(scale=render_scale(*page.get_size())).to_pil()], today)
                if from_qr:
                    break
        if not from_qr and not has_text and pages:  # a scanned page: an image only, read like a photo
            scanned, how = read_picture(pages[0].render(scale=render_scale(*pages[0].get_size())).to_pil(), today)
            if scanned:
                return ReadResult(scanned, f"pdf_{how}")
    finally:
        document.close()
    if from_qr:
        fields = merge([*from_qr, *from_text])
        source = "pdf_qr"
    elif says_invoice:
        fields = merge(from_text)
        source = "pdf_text"
    else:
        fields = {}
    if "number" not in fields:
        raise ReadError("not_invoice")
    return ReadResult(fields, source)


def page_glyphs(page: Any) -> list[Glyph]:
    """The page's characters with their boxes (loose boxes: CJK glyphs have no tight one)."""
    textpage = page.get_textpage()
    try:
        glyphs = []
        for index in range(min(textpage.count_chars(), MAX_GLYPHS)):
            char = textpage.get_text_range(index, 1)
            if not char.strip():
                continue
            x0, y0, x1, y1 = textpage.get_charbox(index, loose=True)
            glyphs.append(Glyph(char, x0, y0, x1, y1))
        return glyphs
    finally:
        textpage.close()


def _embedded_images(page: Any, pypdfium2: Any) -> list[Any]:
    """The page's small images as they are stored (a QR image is decoded sharper than when rendered)."""
    images: list[Any] = []
    for obj in page.get_objects(filter=[pypdfium2.raw.FPDF_PAGEOBJ_IMAGE]):
        if len(images) >= MAX_IMAGES_PER_PAGE:
            break
        try:
            width, height = obj.get_px_size()
            if not (21 <= width and 21 <= height and width * height <= MAX_EMBEDDED_PIXELS):
                continue
            images.append(obj.get_bitmap(render=False).to_pil())
        except (pypdfium2.PdfiumError, ValueError, OSError) as error:
            logger.debug("embedded image not decoded: %s", error)
    return images

