"""The terminal adapter's translation of typed lines and HTML."""

from __future__ import annotations

from assistant.adapters.terminal import html_to_rich, to_message
from assistant.messages import ButtonPress, Command, Text
from assistant.outputs import Button, Reply

REPLY = Reply("menu", ((Button("A", "find"),), (Button("B", "status"), Button("C", "human"))), version=7)


def test_numbers_press_buttons_of_the_last_reply() -> None:
    event = to_message("3", REPLY, user_id=1, chat_id=1, language="zh")
    assert isinstance(event, ButtonPress) and (event.choice, event.version) == ("human", 7)


def test_numbers_out_of_range_are_text() -> None:
    assert to_message("4", REPLY, user_id=1, chat_id=1, language="zh") == Text(
        user_id=1, chat_id=1, language="zh", user_name="terminal", text="4")
    assert to_message("12345678", REPLY, user_id=1, chat_id=1, language="zh").text == "12345678"  # type: ignore[union-attr]


def test_commands() -> None:
    event = to_message("/lang en", None, user_id=1, chat_id=1, language="zh")
    assert isinstance(event, Command) and (event.name, event.args) == ("lang", "en")


def test_html_becomes_rich_markup_and_brackets_stay_literal() -> None:
    assert html_to_rich("<b>号码</b> &lt;x&gt; [red]") == "[bold]号码[/bold] <x> \\[red]"


async def test_a_file_path_that_names_no_file_says_so() -> None:
    from assistant.domain.documents import ReadError
    from assistant.messages import FileSent

    for line in ("/file /no/such/invoice.pdf", "/file"):
        message = to_message(line, None, user_id=1, chat_id=1, language="zh")
        assert isinstance(message, FileSent) and message.attachment.fetch is not None
        try:
            await message.attachment.fetch(1000)
        except ReadError as error:
            assert error.reason == "missing"
        else:
            raise AssertionError("a missing file was read")
