"""Read an OFD e-invoice: a zip of XML parts, any of which may be the only one holding the data.

Issuers put the fields in different places: OFD.xml's CustomData, an attached original_invoice.xml
or XBRL file (inv_ord_issuer_*, rai_issuer_*), CustomTag.xml pointing at text objects on the page,
the page text itself (labels in the template, values on the page), and the QR image. All of them are
read and merged (`invoice_fields.merge`): what they agree on is taken, what they dispute is not.
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date
from typing import Any
from xml.etree import ElementTree

from assistant.domain.documents import (
    MAX_XML_BYTES,
    ReadError,
    ReadResult,
    check_size,
    open_image,
    qr_sources,
)
from assistant.domain.invoice_fields import merge, single_field_sources
from assistant.domain.invoice_xml import TAGS, local, parse_lenient, xml_sources
from assistant.domain.layout import MAX_GLYPHS, Glyph, label_sources

logger = logging.getLogger(__name__)

MAX_ZIP_ENTRIES = 500
MAX_ZIP_TOTAL = 50 * 1024 * 1024
"""Uncompressed bytes an OFD may unpack to, in all."""
MAX_ZIP_RATIO = 200
"""Uncompressed / compressed size of one entry above which it is taken for a zip bomb."""
MAX_PAGES = 5
MAX_IMAGES = 8
MAX_IMAGE_BYTES = 512 * 1024
"""A QR image is a few KB; larger images (photos, backgrounds) are not decoded."""
IMAGE_ENDINGS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
UNPACK_ERRORS = (zipfile.BadZipFile, RuntimeError, OSError, EOFError, zlib.error)
"""What unpacking a damaged entry raises: that entry is skipped."""


def read_ofd(data: bytes, today: date) -> ReadResult:
    check_size(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as error:
        raise ReadError("corrupt") from error
    with archive:
        infos = archive.infolist()
        check_archive(infos)
        parts = _xml_parts(archive, infos)
        if not parts:
            raise ReadError("not_invoice")
        sources: list[dict[str, str]] = []
        for root in parts.values():
            sources += xml_sources(root, today)
        objects = _text_objects(parts)
        sources += _referenced_fields(parts, objects, today)
        for glyphs in _page_glyphs(parts):
            sources += label_sources(glyphs, today)
        sources += _qr_sources(archive, infos, today)
    fields = merge(sources)
    if "number" not in fields:
        raise ReadError("not_invoice")
    return ReadResult(fields, "ofd")


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


def unpack(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int = MAX_XML_BYTES) -> bytes:
    """An entry's content, read with a cap: sizes in the archive's directory may lie."""
    with archive.open(info) as entry:
        data = entry.read(limit + 1)
    if len(data) > limit:
        raise ReadError("too_complex")
    return data


def _xml_parts(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> dict[str, ElementTree.Element]:
    """Every XML part that parses, by its path in the archive, lower-cased (Document.xml may say
    "TPLS/" for "Tpls/"); a malformed part is skipped."""
    parts: dict[str, ElementTree.Element] = {}
    for info in infos:
        if not info.filename.lower().endswith(".xml") or info.file_size > MAX_XML_BYTES:
            continue
        try:
            parts[info.filename.lstrip("/").lower()] = parse_lenient(unpack(archive, info))
        except ReadError as error:
            if error.reason == "hostile":
                raise
        except UNPACK_ERRORS:
            continue
    return parts


def _text_objects(parts: dict[str, ElementTree.Element]) -> dict[str, str]:
    """The text of every TextObject, by its ID (IDs are unique in a document)."""
    objects: dict[str, str] = {}
    for root in parts.values():
        for element in root.iter():
            if local(element.tag) == "textobject" and element.get("ID"):
                objects[element.get("ID", "")] = "".join(
                    (code.text or "") for code in element if local(code.tag) == "textcode")
    return objects


def _referenced_fields(parts: dict[str, ElementTree.Element], objects: dict[str, str],
                       today: date) -> list[dict[str, str]]:
    """CustomTag.xml: <InvoiceNo><ObjectRef>6922</ObjectRef></InvoiceNo> names the text object holding it."""
    pairs = []
    for root in parts.values():
        for element in root.iter():
            name = TAGS.get(local(element.tag))
            refs = [child for child in element if local(child.tag) == "objectref"]
            if name is not None and refs:
                pairs.append((name, "".join(objects.get((ref.text or "").strip(), "") for ref in refs)))
    return single_field_sources(pairs, today)


def _page_glyphs(parts: dict[str, ElementTree.Element]) -> Iterator[list[Glyph]]:
    """Each page's characters, with its template's (the labels are often only in the template)."""
    for page, templates in _pages(parts)[:MAX_PAGES]:
        glyphs: list[Glyph] = []
        for path in [*templates, page]:
            if path in parts:
                glyphs += _glyphs(parts[path])
        yield glyphs[:MAX_GLYPHS]


def _pages(parts: dict[str, ElementTree.Element]) -> list[tuple[str, list[str]]]:
    """(page content, its template contents) from Document.xml; without one, every content part
    that is not a template, with all templates."""
    found: list[tuple[str, list[str]]] = []
    for path, root in parts.items():
        if local(root.tag) != "document":
            continue
        folder = posixpath.dirname(path)
        templates = {element.get("ID", ""): _resolve(folder, element.get("BaseLoc", ""))
                     for element in root.iter() if local(element.tag) == "templatepage"}
        for element in root.iter():
            if local(element.tag) != "page" or not element.get("BaseLoc"):
                continue
            page = _resolve(folder, element.get("BaseLoc", ""))
            content = parts.get(page)
            used = [templates[t.get("TemplateID", "")] for t in (content.iter() if content is not None else [])
                    if local(t.tag) == "template" and t.get("TemplateID", "") in templates]
            found.append((page, used))
    if found:
        return found
    contents = [path for path, root in parts.items() if local(root.tag) == "page"]
    template_paths = [path for path in contents if re.search(r"/tpls?/", path)]
    return [(path, template_paths) for path in contents if path not in template_paths]


def _resolve(folder: str, location: str) -> str:
    """A BaseLoc as a key of the parts (relative to Document.xml's folder unless absolute)."""
    location = location.strip().lower()
    if location.startswith("/"):
        return posixpath.normpath(location.lstrip("/"))
    return posixpath.normpath(posixpath.join(folder, location))


def _glyphs(root: ElementTree.Element) -> list[Glyph]:
    """Characters of a page's TextObjects, placed by Boundary, TextCode X/Y and DeltaX (in mm, y down).
    Rotated or skewed text (seals, stamps) is left out."""
    glyphs: list[Glyph] = []
    for element in root.iter():
        if local(element.tag) != "textobject":
            continue
        try:
            left, top = (float(v) for v in (element.get("Boundary") or "0 0 0 0").split()[:2])
            size = float(element.get("Size") or 3.5)
            scale_x, scale_y = 1.0, 1.0
            if element.get("CTM"):
                a, b, c, d, *_ = (float(v) for v in element.get("CTM", "").split())
                if abs(b) > 1e-6 or abs(c) > 1e-6:
                    continue
                scale_x, scale_y = a, d
        except ValueError:
            continue
        x = y = 0.0
        for code in element:
            if local(code.tag) != "textcode" or not code.text:
                continue
            try:
                x = float(code.get("X", x))
                y = float(code.get("Y", y))
                deltas = _deltas(code.get("DeltaX", ""))
            except ValueError:
                continue
            cursor = x
            height = size * scale_y
            for index, char in enumerate(code.text):
                advance = deltas[index] if index < len(deltas) else (size if ord(char) > 0x2e80 else size / 2)
                x0 = left + cursor * scale_x
                base = top + y * scale_y
                if char.strip():
                    glyphs.append(Glyph(char, x0, base - height, x0 + advance * scale_x, base))
                cursor += advance
            if len(glyphs) > MAX_GLYPHS:
                return glyphs
    return glyphs


def _deltas(text: str) -> list[float]:
    """OFD DeltaX: numbers, where "g n v" stands for n times v."""
    values: list[float] = []
    tokens = text.split()
    index = 0
    while index < len(tokens) and len(values) < MAX_GLYPHS:
        if tokens[index] == "g" and index + 2 < len(tokens):
            values += [float(tokens[index + 2])] * min(int(tokens[index + 1]), MAX_GLYPHS)
            index += 3
        else:
            values.append(float(tokens[index]))
            index += 1
    return values


def _qr_sources(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], today: date) -> list[dict[str, str]]:
    """The QR code among the archive's small images (JBIG2 images cannot be decoded and are skipped)."""
    images = sorted((info for info in infos if info.filename.lower().endswith(IMAGE_ENDINGS)
                     and 0 < info.file_size <= MAX_IMAGE_BYTES), key=lambda info: info.file_size)
    decoded = []
    for info in images[:MAX_IMAGES]:
        try:
            image: Any = open_image(unpack(archive, info, MAX_IMAGE_BYTES))
            decoded.append(image.convert("RGB"))
        except (ReadError, *UNPACK_ERRORS):
            continue
    return qr_sources(decoded, today)
