"""Texts within Telegram's limits, and users' text cleaned at the edge."""

from __future__ import annotations

import html
import re

from assistant.adapters.texts import clean, shorten_html, split_html, visible_length


def plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def test_a_short_text_is_left_alone() -> None:
    assert split_html("<b>你好</b> &amp; 再见") == ["<b>你好</b> &amp; 再见"]
    assert visible_length("<b>你好</b> &amp;") == 4


def test_long_text_is_cut_at_line_ends_and_nothing_is_lost() -> None:
    text = "<b>标题</b>\n" + "\n".join(f"第{i}行 &amp; <i>斜体{i}</i>" for i in range(600))
    parts = split_html(text)
    assert len(parts) >= 2 and all(visible_length(part) <= 4096 for part in parts)
    assert all(not part.startswith("\n") and not part.endswith("\n") for part in parts)
    assert plain("\n".join(parts)) == plain(text)
    assert all(part.count("<i>") == part.count("</i>") for part in parts)


def test_formatting_open_across_a_cut_is_closed_and_reopened() -> None:
    text = "<b>" + "字" * 5000 + "</b>"
    first, second = split_html(text)
    assert first.startswith("<b>") and first.endswith("</b>") and visible_length(first) == 4096
    assert second.startswith("<b>") and second.endswith("</b>") and visible_length(second) == 904


def test_characters_outside_the_basic_plane_count_twice() -> None:
    parts = split_html("😀" * 3000)
    assert [visible_length(part) for part in parts] == [4096, 1904]


def test_shortened_for_an_edit_with_an_ellipsis() -> None:
    short = shorten_html("<b>" + "字" * 5000 + "</b>", 100)
    assert visible_length(short) == 100 and short.endswith("…</b>")


def test_users_text_cleaned() -> None:
    assert clean("王\x00经理\ud83d") == "王经理\ufffd"
    assert clean("第一行\n第二行\t") == "第一行\n第二行\t"
    assert clean(None) is None
