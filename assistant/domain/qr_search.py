"""Find an invoice's QR code in a photo at every scale, within a budget.

A phone photo of a paper invoice holds its QR code small (a 4000 px photo of a whole page gives the
code ~150 px, drawn by a dot-matrix printer), and a low-resolution screenshot holds it at ~75 px. The
decoder (zxing-cpp) finds a code only when its modules are a few pixels wide and its binarisation
separates them, so the search tries, cheapest first: the image as it is, with more contrast and
downscaled; then regions — the invoice's top-left area first (where paper and e-invoices print the
code), then the other corners, since a photo may be turned — at native resolution and upscaled; each
with zxing's three binarisers. Rotation is zxing's (`try_rotate`); moderate perspective is within its
detector's tolerance. Every attempt is counted against a pixel budget and a deadline, so a hostile or
hopeless image costs a bounded time before the reader turns to the printed text.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

MAX_SEARCH_PIXELS = 300_000_000
"""Pixels handed to the decoder for one image, over all attempts (a decode costs ~1 ms per megapixel)."""
MAX_VARIANT_PIXELS = 16_000_000
"""The largest single image handed to the decoder (an upscaled region is skipped beyond it)."""
SEARCH_SECONDS = 3.0
"""Wall time for the whole search; what is left after it goes to the printed text."""
LARGE_SIDE = 2000
"""Photos with a longer side than this are also searched downscaled (1600 and 1000 px)."""
REGION_SCALES = (1, 2, 3)
"""Regions are tried at native resolution, then upscaled (the tiny codes of low-resolution images)."""


def regions(width: int, height: int) -> list[tuple[int, int, int, int]]:
    """Overlapping regions, the top-left first: quarters of the page (a little over half each way), then
    the top-left ninth and the middle (a QR photographed alone, off-centre)."""
    w, h = int(width * 0.55), int(height * 0.55)
    return [
        (0, 0, w, h),
        (width - w, 0, width, h),
        (0, height - h, w, height),
        (width - w, height - h, width, height),
        (0, 0, width // 3, height // 3),
        (width // 4, height // 4, width - width // 4, height - height // 4),
    ]


def variants(gray: Any, thorough: bool = True) -> Iterator[Any]:
    """Grayscale images to decode, cheapest and likeliest first; the regions only when `thorough`."""
    from PIL import Image, ImageFilter, ImageOps

    width, height = gray.size
    yield gray
    contrast = ImageOps.autocontrast(gray, cutoff=2)
    yield contrast
    yield contrast.filter(ImageFilter.SHARPEN)
    yield ImageOps.equalize(gray)
    for scale in (2, 3):  # a low-resolution image's code, a few pixels a module: upscaled whole
        if width * height * scale * scale <= MAX_VARIANT_PIXELS:
            yield gray.resize((width * scale, height * scale), Image.Resampling.BICUBIC)
    longest = max(width, height)
    if longest > LARGE_SIDE:
        for side in (1600, 1000):
            scale = side / longest
            yield contrast.resize((max(1, int(width * scale)), max(1, int(height * scale))), Image.Resampling.BOX)
    if not thorough:
        return
    for box in regions(width, height):
        region = contrast.crop(box)
        for scale in REGION_SCALES:
            size = (region.width * scale, region.height * scale)
            if size[0] * size[1] > MAX_VARIANT_PIXELS:
                break
            yield region if scale == 1 else region.resize(size, Image.Resampling.BICUBIC)


def search(image: Any, accept: Callable[[str], bool] = bool, *, thorough: bool = True,
           deadline: float | None = None) -> list[str]:
    """The texts of the QR codes found in the image by the first variant that gives one `accept`s (an
    invoice's, not a payment code's), or []."""
    import zxingcpp
    from PIL import ImageOps

    gray = ImageOps.grayscale(image)
    stop = min(deadline or float("inf"), time.monotonic() + SEARCH_SECONDS)
    qr_only = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
    binarizers = (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.GlobalHistogram,
                  zxingcpp.Binarizer.FixedThreshold)
    spent = 0
    tried = 0
    for variant in variants(gray, thorough):
        pixels = variant.width * variant.height
        if spent + pixels * len(binarizers) > MAX_SEARCH_PIXELS or time.monotonic() > stop:
            logger.info("QR search stopped after %s attempts (%s Mpx): budget spent", tried, spent // 1_000_000)
            return []
        for binarizer in binarizers:
            tried += 1
            found = [result.text for result in zxingcpp.read_barcodes(
                variant, formats=qr_only, try_rotate=True, try_downscale=True,
                binarizer=binarizer)]
            if any(accept(text) for text in found):
                logger.debug("QR found at attempt %s (%sx%s)", tried, variant.width, variant.height)
                return found
        spent += pixels * len(binarizers)
    return []
