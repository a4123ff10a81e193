"""The QR search at every scale (assistant/domain/qr_search.py) on generated photos of a page."""

from __future__ import annotations

import io
import random
from datetime import date

import segno
from PIL import Image, ImageDraw, ImageFilter

from assistant.domain.documents import parse_qr
from assistant.domain.qr_search import search

TODAY = date(2026, 12, 2)
PAYLOAD = "01,04,044031800104,41108527,96.72,20190319,55617567333517793345,5C54"


def invoice_qr(payload: str = PAYLOAD, scale: int = 2) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(payload, error="m").save(buffer, kind="png", scale=scale, border=4)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def dot_matrix_qr(payload: str = PAYLOAD, module: int = 8, radius: float = 0.38) -> Image.Image:
    """The code as a dot-matrix printer prints it on a paper invoice: each dark module a round dot."""
    matrix = segno.make(payload, error="m").matrix
    size = (len(matrix) + 8) * module
    image = Image.new("RGB", (size, size), (235, 233, 228))
    draw = ImageDraw.Draw(image)
    for row, modules in enumerate(matrix):
        for column, dark in enumerate(modules):
            if dark:
                x, y, r = (column + 4.5) * module, (row + 4.5) * module, radius * module
                draw.ellipse((x - r, y - r, x + r, y + r), fill=(70, 70, 90))
    return image


def page(width: int, height: int, seed: int = 1) -> Image.Image:
    """A light grey page with lines of dark 'text' strokes and camera noise."""
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height), (228, 226, 220))
    draw = ImageDraw.Draw(image)
    for y in range(height // 8, height, max(height // 30, 12)):
        x = rng.randrange(width // 10)
        while x < width * 0.9:
            length = rng.randrange(width // 60, width // 12)
            draw.line((x, y, x + length, y), fill=(60, 60, 70), width=max(2, height // 400))
            x += length + rng.randrange(width // 80, width // 20)
    return image


def invoice_fields(payloads: list[str]) -> list[dict[str, str]]:
    return [fields for payload in payloads if (fields := parse_qr(payload, TODAY))]


def accept(text: str) -> bool:
    return parse_qr(text, TODAY) is not None


def test_a_dot_matrix_code_in_a_large_photo_is_found() -> None:
    """A 4200 px photo of a paper invoice whose code is printed in dots: zxing finds it only in a region
    upscaled (the whole photo, and its contrast-stretched copies, give nothing)."""
    photo = page(4200, 3100)
    photo.paste(dot_matrix_qr(), (300, 260))
    assert invoice_fields(search(photo, accept)) == [parse_qr(PAYLOAD, TODAY)]


def test_a_small_blurred_code_in_a_large_photo_is_found() -> None:
    photo = page(4000, 3000)
    photo.paste(invoice_qr(scale=2), (260, 240))
    photo = photo.filter(ImageFilter.GaussianBlur(0.6))
    assert invoice_fields(search(photo, accept)) == [parse_qr(PAYLOAD, TODAY)]


def test_a_tiny_code_of_a_low_resolution_image_is_found_upscaled() -> None:
    """A 480 px image whose code has 1.2 px a module: readable only upscaled."""
    shot = page(1200, 800)
    shot.paste(invoice_qr(scale=3), (60, 50))
    shot = shot.resize((480, 320), Image.Resampling.BILINEAR)
    assert invoice_fields(search(shot, accept)) == [parse_qr(PAYLOAD, TODAY)]


def test_a_turned_and_askew_photo_is_found() -> None:
    photo = page(2400, 1700)
    photo.paste(invoice_qr(scale=4), (150, 120))
    photo = photo.rotate(93, expand=True, fillcolor=(90, 90, 90))
    width, height = photo.size
    inset = 0.08 * width
    photo = photo.transform((width, height), Image.Transform.QUAD,
                            (-inset, 0, 0, height, width, height, width + inset, 0), fillcolor=(90, 90, 90))
    assert invoice_fields(search(photo, accept)) == [parse_qr(PAYLOAD, TODAY)]


def test_a_payment_code_is_not_taken_and_the_search_goes_on() -> None:
    """A merchant's payment QR beside the invoice's: only the invoice's is an answer."""
    photo = page(2000, 1400)
    photo.paste(invoice_qr("https://qr.example/pay?merchant=12345", scale=6), (80, 80))
    photo.paste(invoice_qr(scale=3), (1500, 1000))
    assert invoice_fields(search(photo, accept)) == [parse_qr(PAYLOAD, TODAY)]
    alone = page(2000, 1400)
    alone.paste(invoice_qr("https://qr.example/pay?merchant=12345", scale=6), (80, 80))
    assert search(alone, accept) == []


def test_a_page_without_any_code_ends_the_search_with_nothing() -> None:
    assert search(page(3000, 2200), accept) == []
