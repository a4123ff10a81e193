"""/stats' ratings chart: bars as wide as their share, labels in a font that has their characters."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from assistant import charts
from assistant.outputs import RatingsChart
from assistant.runtime.outbox import decode, encode

CHART = RatingsChart(
    900, "<b>满意度分布</b>", "满意度分布", ("今天", "最近 7 天", "最近 30 天"),
    ("平均 4.0 分，1 个评价", "暂无评价", "平均 3.9 分，40 个评价"), ((0, 0, 0, 1, 0), (0, 0, 0, 0, 0), (3, 2, 6, 9, 20)),
    "Ratings", ("Today", "Last 7 days", "Last 30 days"), ("average 4.0/5, 1 rated", "no ratings yet", "average 3.9/5, 40 rated"))


def _image(chart: RatingsChart) -> Image.Image:
    picture = charts.png(chart)
    assert picture.startswith(b"\x89PNG")
    return Image.open(io.BytesIO(picture)).convert("RGB")


def _runs(image: Image.Image, row: int) -> dict[str, int]:
    """How many pixels of each star colour cross the middle of a row's bar."""
    y = charts.MARGIN + 56 + row * charts.ROW_HEIGHT + charts.BAR_HEIGHT // 4  # above the count's digits
    colours = {tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)): c for c in charts.COLOURS}
    seen: dict[str, int] = {}
    for x in range(image.width):
        colour = colours.get(image.getpixel((x, y)))  # type: ignore[arg-type]
        if colour is not None:
            seen[colour] = seen.get(colour, 0) + 1
    return seen


def test_each_bar_is_split_by_stars_in_proportion_to_the_ratings() -> None:
    image = _image(CHART)
    width = charts.WIDTH - 2 * charts.MARGIN - charts.LABEL_WIDTH
    month = _runs(image, 2)
    for stars, count in enumerate((3, 2, 6, 9, 20)):
        assert abs(month[charts.COLOURS[stars]] - width * count / 40) <= 2, (stars, month)
    assert _runs(image, 0) == {charts.COLOURS[3]: pytest.approx(width, abs=2)}  # one 4-star rating: all of it
    assert _runs(image, 1) == {}  # nobody rated in the week: the outline alone


def test_without_a_cjk_font_the_english_labels_are_drawn(monkeypatch) -> None:
    monkeypatch.setattr(charts, "cjk_font_path", lambda: None)
    english = dataclasses.replace(CHART, title=CHART.latin_title, rows=CHART.latin_rows, notes=CHART.latin_notes)
    assert charts.png(CHART) == charts.png(english)


def test_with_a_cjk_font_the_admins_own_labels_are_drawn() -> None:
    if charts.cjk_font_path() is None:
        pytest.skip("no CJK font on this machine (Debian: fonts-wqy-microhei)")
    english = dataclasses.replace(CHART, title=CHART.latin_title, rows=CHART.latin_rows, notes=CHART.latin_notes)
    assert charts.png(CHART) != charts.png(english)
    assert _image(CHART).size == _image(english).size


def test_rows_are_capped() -> None:
    many = dataclasses.replace(CHART, rows=("x",) * 50, notes=("n",) * 50, values=((1, 2, 3, 4, 5),) * 50)
    assert _image(many).height == charts.MARGIN + 56 + charts.ROW_HEIGHT * charts.MAX_ROWS + 70


def test_a_chart_survives_the_outbox() -> None:
    assert decode(encode(CHART), outbox_id=7) == CHART
