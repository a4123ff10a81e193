"""The isolated reader: real child processes, their limits, and what the merchant is told when one is hit."""

from __future__ import annotations

import io
from datetime import date

import segno

from assistant.runtime.file_reader import IsolatedReader, ReadLimits
from tests.hostile import big_page_pdf

TODAY = date(2026, 6, 15)


def qr_png(payload: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(payload).save(buffer, kind="png", scale=6)
    return buffer.getvalue()


async def test_an_invoice_qr_is_read_in_a_child_process() -> None:
    read = await IsolatedReader().read(qr_png("01,10,011002610011,12345678,1000.00,20260520,12345678901234567890,AB"),
                                       file_name="qr.png", mime_type="image/png", kind="photo", today=TODAY)
    assert read.usable and read.fields["number"] == "12345678" and read.source == "qr"
    assert 0 < read.peak_kb < 512 * 1024


async def test_a_reader_past_its_time_is_stopped() -> None:
    read = await IsolatedReader(ReadLimits(seconds=0.05)).read(big_page_pdf(5000, pages=5), file_name="a.pdf",
                                                               mime_type="application/pdf", kind="document",
                                                               today=TODAY)
    assert read.reason == "too_slow" and not read.usable


async def test_a_reader_out_of_memory_dies_alone_and_the_next_file_gets_a_new_one() -> None:
    reader = IsolatedReader(ReadLimits(memory_bytes=120 * 1024 * 1024))  # enough to start, not to render
    starved = await reader.read(big_page_pdf(5000), file_name="a.pdf", mime_type="application/pdf",
                                kind="document", today=TODAY)
    assert starved.reason == "too_complex" and not starved.usable and starved.peak_kb < 120 * 1024
    fine = await IsolatedReader().read(b"%PDF-", file_name="a.pdf", mime_type="application/pdf", kind="document",
                                       today=TODAY)
    assert fine.reason == "corrupt"
