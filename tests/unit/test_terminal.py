"""The terminal adapter's translation of typed lines and HTML."""

from __future__ import annotations

from assistant.adapters.terminal import html_to_rich, to_event
from assistant.events import Button, Reply

REPLY = Reply("menu", ((Button("A", "find"),), (Button("B", "status"), Button("C", "human"))), version=7)


def test_numbers_press_buttons_of_the_last_reply() -> None:
    event = to_event("3", REPLY, user_id=1, chat_id=1, language="zh")
    assert (event.choice, event.choice_version, event.text) == ("human", 7, None)


def test_numbers_out_of_range_are_text() -> None:
    assert to_event("4", REPLY, user_id=1, chat_id=1, language="zh").text == "4"
    assert to_event("12345678", REPLY, user_id=1, chat_id=1, language="zh").text == "12345678"


def test_commands() -> None:
    event = to_event("/lang en", None, user_id=1, chat_id=1, language="zh")
    assert (event.command, event.args) == ("lang", "en")


def test_html_becomes_rich_markup_and_brackets_stay_literal() -> None:
    assert html_to_rich("<b>号码</b> &lt;x&gt; [red]") == "[bold]号码[/bold] <x> \\[red]"
