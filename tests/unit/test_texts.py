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
    assert clean("王经理 \u202e0987\u2066x\u2069\u200f\ufeff\u00ad") == "王经理 0987x"  # bidi and other Cf
    assert clean("👨\u200d💻 程序员") == "👨\u200d💻 程序员"  # a zero-width joiner joins, and reorders nothing
    assert clean("第一行\n第二行\t") == "第一行\n第二行\t"
    assert clean(None) is None


def test_lengths_are_counted_as_telegram_counts_them() -> None:
    from assistant.domain.text import utf16_cut, utf16_len

    assert utf16_len("发票 abc") == 6
    assert utf16_len("😀" * 3000) == 6000  # one code point each, two UTF-16 units
    assert utf16_len("𠀀") == 2  # a CJK ideograph outside the Basic Multilingual Plane
    assert utf16_cut("王经理", 128) == "王经理"
    cut = utf16_cut("😀" * 100, 128)
    assert utf16_len(cut) <= 128 and cut.endswith("…") and cut.count("😀") == 63  # never half an emoji
    assert utf16_cut("a😀b", 3, ellipsis="") == "a😀" and utf16_cut("a😀b", 2, ellipsis="") == "a"


def test_every_fixed_text_fits_telegrams_limits() -> None:
    """Texts Telegram refuses when they are too long, counted in its units: descriptions, commands, canned answers."""
    from zoneinfo import ZoneInfo

    from assistant.domain.text import MESSAGE_LIMIT, utf16_len
    from assistant.replies import LANGUAGES, Renderer
    from bot import REPLIES

    renderer = Renderer(REPLIES, ZoneInfo("Asia/Shanghai"))
    for language in LANGUAGES:
        assert utf16_len(renderer.text("bot_description", language)) <= 512
        assert utf16_len(renderer.text("bot_short_description", language)) <= 120
        for command in ("start", "cancel", "help", "lang", "status", "tickets", "announce", "maintenance"):
            assert 1 <= utf16_len(renderer.text("command_description", language, command=command)) <= 256
        ticket = {"id": 1, "language": language, "user_id": 1, "merchant_name": "王经理", "state": "open",
                  "fields": {}, "checks": []}
        for key in renderer.keys(language):
            if key.startswith("canned_") and key not in ("canned_sent", "canned_unknown"):
                assert visible_length(renderer.text(key, language, ticket=ticket)) <= MESSAGE_LIMIT, key
