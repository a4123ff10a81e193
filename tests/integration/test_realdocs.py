"""The readers on real e-invoices written by others (../shared/realdocs, never copied here).

Skipped where the folder is absent. Each file must never be read wrongly; in all, at least 95% must
be read completely. The PDFs are read a second time with QR decoding switched off, as happens when a
QR code is damaged: the text layer alone may leave fields to type, but may never give a wrong one.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from assistant.domain import pdf as pdf_reader
from assistant.domain.documents import ReadError, read_document
from assistant.runtime.file_reader import FileRead
from bench.realdocs import DEFAULT_FOLDER, measure, score

pytestmark = pytest.mark.skipif(not (DEFAULT_FOLDER / "truth.json").exists(), reason="no ../shared/realdocs here")
TODAY = date(2026, 12, 2)
ENTRIES = json.loads((DEFAULT_FOLDER / "truth.json").read_text(encoding="utf-8")) \
    if (DEFAULT_FOLDER / "truth.json").exists() else []


async def test_real_files_through_the_isolated_reader() -> None:
    verdicts = await measure(DEFAULT_FOLDER, TODAY)
    wrong = [verdict for verdict in verdicts if verdict.outcome == "wrong"]
    assert wrong == []
    correct = sum(verdict.outcome == "correct" for verdict in verdicts)
    assert correct >= 0.95 * len(verdicts), [v for v in verdicts if v.outcome != "correct"]


def _read_in_process(path: Path) -> FileRead:
    try:
        result = read_document(path.read_bytes(), file_name=path.name, mime_type="", kind="document", today=TODAY)
    except ReadError as error:
        return FileRead(reason=error.reason)
    return FileRead(fields=result.fields, source=result.source)


def test_real_pdf_text_layers_without_their_qr(monkeypatch) -> None:
    """Never wrong; and most invoices' text layers give every field (a garbled one may be refused)."""
    monkeypatch.setattr(pdf_reader, "qr_sources", lambda images, today: [])
    pdfs = [entry for entry in ENTRIES if entry["file"].endswith(".pdf")]
    verdicts = [score(e["file"], e["truth"], _read_in_process(DEFAULT_FOLDER / e["file"])) for e in pdfs]
    assert [v for v in verdicts if v.outcome == "wrong"] == []
    invoices = [v for v, e in zip(verdicts, pdfs) if not e["truth"].get("negative")]
    assert sum(v.outcome == "correct" for v in invoices) >= 0.8 * len(invoices), invoices
