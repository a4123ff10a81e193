"""Tiny hostile files, generated in the test: each costs a naive reader gigabytes or minutes."""

from __future__ import annotations

import struct
import zlib


def big_page_pdf(points: int = 5000, pages: int = 1) -> bytes:
    """A few hundred bytes: `pages` empty pages of `points` × `points` pt (a renderer at scale 3 wants GBs)."""
    objects = ["<</Type/Catalog/Pages 2 0 R>>",
               "<</Type/Pages/Kids[" + " ".join(f"{3 + i} 0 R" for i in range(pages)) + f"]/Count {pages}>>"]
    objects += [f"<</Type/Page/Parent 2 0 R/MediaBox[0 0 {points} {points}]>>" for _ in range(pages)]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj {body} endobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer <</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def huge_png(width: int = 13000, height: int = 13000) -> bytes:
    """A grayscale PNG of `width` × `height` px, all black: some 170 KB that decode to 170 MB or more."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def zip_bomb_ofd(entries: int = 200, entry_bytes: int = 20 * 1024 * 1024) -> bytes:
    """An OFD (zip) of `entries` XML entries of `entry_bytes` each, all one compressed blob (a few MB)."""
    content = b"<a>" + b" " * (entry_bytes - 7) + b"</a>"
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    blob = compressor.compress(content) + compressor.flush()
    crc = zlib.crc32(content) & 0xFFFFFFFF
    local, central = bytearray(), bytearray()
    for index in range(entries):
        name = f"Doc_0/Pages/Page_{index}/Content.xml".encode()
        offset = len(local)
        local += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(blob), len(content),
                             len(name), 0) + name + blob
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(blob), len(content),
                               len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, len(central), len(local), 0)
    return bytes(local + central + end)


def big_xml(size: int = 19 * 1024 * 1024) -> bytes:
    """One XML document of `size` bytes (under the 20 MB file limit)."""
    return b"<Invoice><Note>" + b"x" * (size - 32) + b"</Note></Invoice>"


def busy_pdf(shapes: int = 400_000, pages: int = 3) -> bytes:
    """Some tens of KB: pages of `shapes` tiny filled shapes each (one compressed stream shared by all pages),
    so that rendering or walking them costs a reader seconds of CPU."""
    ops = b"10 10 580 780 re f\n" * shapes
    stream = zlib.compress(ops, 9)
    objects = [b"<</Type/Catalog/Pages 2 0 R>>",
               ("<</Type/Pages/Kids[" + " ".join(f"{4 + i} 0 R" for i in range(pages)) + f"]/Count {pages}>>").encode(),
               f"<</Length {len(stream)}/Filter/FlateDecode>>stream\n".encode() + stream + b"\nendstream"]
    objects += [b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 600 800]/Contents 3 0 R>>" for _ in range(pages)]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj ".encode() + body + b" endobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer <</Size {len(objects) + 1}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
