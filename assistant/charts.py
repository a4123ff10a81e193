"""Draw a `RatingsChart` as a PNG (Pillow): one stacked bar a row, 1 to 5 stars from left to right.

Drawing takes tens of milliseconds of CPU: the transport calls `png` in a worker thread, off the event
loop. The labels are drawn in a font that has their characters: a CJK font found on the machine for
Chinese labels; where there is none, the chart's Latin labels (its English rendering) in Pillow's own
font, so a server without CJK fonts still draws a readable chart instead of empty boxes.
"""

from __future__ import annotations

import functools
import io
import math
import logging
import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from assistant.outputs import RatingsChart

logger = logging.getLogger(__name__)

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)
"""Where Debian's packages (fonts-wqy-microhei, fonts-noto-cjk, …), macOS and Windows keep a CJK font."""
COLOURS = ("#d73027", "#fc8d59", "#fee08b", "#91cf60", "#1a9850")
"""1 to 5 stars: red to green."""
WIDTH, MARGIN, LABEL_WIDTH, BAR_HEIGHT, ROW_HEIGHT = 960, 32, 250, 40, 96
MAX_ROWS = 12


@functools.cache
def cjk_font_path() -> str | None:
    """A font file with Chinese characters on this machine, or None."""
    for candidate in CJK_FONTS:
        if Path(candidate).is_file():
            return candidate
    if shutil.which("fc-list"):
        try:
            found = subprocess.run(["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=5,
                                   check=False).stdout
        except (OSError, subprocess.SubprocessError) as error:
            logger.info("fc-list failed: %s", error)
            return None
        for line in sorted(found.splitlines()):
            path = line.split(":", 1)[0].strip()
            if path and Path(path).is_file():
                return path
    return None


def _font(size: int, cjk: bool) -> Font:
    path = cjk_font_path() if cjk else None
    if path is not None:
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _latin(texts: tuple[str, ...]) -> bool:
    return all(ch.isascii() or ch in "·—–…" for text in texts for ch in text)


def _star(draw: ImageDraw.ImageDraw, x: float, y: float, radius: float, fill: str) -> None:
    """A five-pointed star centred at (x, y): drawn, since not every font has ★."""
    points = []
    for i in range(10):
        r = radius if i % 2 == 0 else radius * 0.45
        angle = math.pi / 2 + i * math.pi / 5
        points.append((x + r * math.cos(angle), y - r * math.sin(angle)))
    draw.polygon(points, fill=fill)


def png(chart: RatingsChart) -> bytes:
    """The chart as PNG bytes."""
    title, rows, notes = chart.title, chart.rows, chart.notes
    if not _latin((title, *rows, *notes)) and cjk_font_path() is None:
        title, rows, notes = chart.latin_title, chart.latin_rows, chart.latin_notes
    cjk = not _latin((title, *rows, *notes))
    values = [tuple(max(0, int(v)) for v in row[:len(COLOURS)]) for row in chart.values[:MAX_ROWS]]
    rows, notes = rows[:len(values)], notes[:len(values)]
    title_font, label_font, small_font = _font(30, cjk), _font(24, cjk), _font(20, cjk)
    legend_font = _font(22, False)  # digits

    height = MARGIN + 56 + ROW_HEIGHT * len(values) + 70
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN), title, font=title_font, fill="#222222")

    bar_left, bar_right = MARGIN + LABEL_WIDTH, WIDTH - MARGIN
    top = MARGIN + 56
    for index, counts in enumerate(values):
        y = top + index * ROW_HEIGHT
        label = rows[index] if index < len(rows) else ""
        draw.text((MARGIN, y + BAR_HEIGHT / 2), label, font=label_font, fill="#222222", anchor="lm")
        total = sum(counts)  # an empty row: the outline alone
        draw.rectangle((bar_left, y, bar_right, y + BAR_HEIGHT), outline="#bbbbbb", width=1)
        x = float(bar_left)
        for segment, count in enumerate(counts):
            if not count:
                continue
            width = (bar_right - bar_left) * count / total
            draw.rectangle((x, y, x + width, y + BAR_HEIGHT), fill=COLOURS[segment])
            text = str(count)
            if draw.textlength(text, font=small_font) + 8 <= width:
                draw.text((x + width / 2, y + BAR_HEIGHT / 2), text, font=small_font, fill="#111111", anchor="mm")
            x += width
        if index < len(notes) and notes[index]:
            draw.text((bar_left, y + BAR_HEIGHT + 6), notes[index], font=small_font, fill="#555555")

    y = top + ROW_HEIGHT * len(values) + 20
    x = float(bar_left)
    for stars, colour in enumerate(COLOURS, start=1):
        draw.rectangle((x, y, x + 22, y + 22), fill=colour)
        x += 30
        draw.text((x, y + 11), str(stars), font=legend_font, fill="#222222", anchor="lm")
        x += draw.textlength(str(stars), font=legend_font) + 12
        _star(draw, x, y + 11, 10, "#f2b01e")
        x += 40

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
