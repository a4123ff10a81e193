"""Update → typed message and reply → keyboard mapping of the Telegram adapter."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Bot, Update

from assistant.adapters.telegram import decode_choice, encode_choice, reply_markup, update_to_message
from assistant.messages import AlbumReceived, ButtonPress, Command, FileSent, Text, TopicClosed
from assistant.outputs import Button, Reply
from tests.e2e.fake_bot_api import TOKEN

USER = {"id": 7, "is_bot": False, "first_name": "王", "last_name": "经理", "language_code": "zh-hans"}
CHAT = {"id": 7, "type": "private", "first_name": "王"}


def update(**payload: Any) -> Update:
    return Update.de_json({"update_id": 1, **payload}, Bot(TOKEN))


def message(**fields: Any) -> dict[str, Any]:
    return {"message": {"message_id": 3, "date": 0, "chat": CHAT, "from": USER, **fields}}


def test_text() -> None:
    event = update_to_message(update(**message(text="号码 12345678")))
    assert isinstance(event, Text)
    assert (event.user_id, event.chat_id, event.language, event.text, event.user_name) == (
        7, 7, "zh-hans", "号码 12345678", "王 经理")


@pytest.mark.parametrize(("origin", "expected"), [
    ({"type": "user", "date": 0, "sender_user": {"id": 4242, "is_bot": False, "first_name": "李"}}, 4242),
    ({"type": "hidden_user", "date": 0, "sender_user_name": "李"}, 0),
    ({"type": "channel", "date": 0, "message_id": 5, "chat": {"id": -1005, "type": "channel", "title": "c"}}, None),
    (None, None),
])
def test_a_forwarded_texts_original_sender(origin: dict[str, Any] | None, expected: int | None) -> None:
    fields = {"text": "我的发票查不到", **({"forward_origin": origin} if origin else {})}
    event = update_to_message(update(**message(**fields)))
    assert isinstance(event, Text) and event.forwarded_from == expected and event.user_id == 7


@pytest.mark.parametrize(("text", "command", "args"), [
    ("/start", "start", ""), ("/start@invoice_helper_bot", "start", ""), ("/Lang en", "lang", "en"),
    ("/cancel  now ", "cancel", "now"),
])
def test_commands(text: str, command: str, args: str) -> None:
    event = update_to_message(update(**message(text=text)))
    assert isinstance(event, Command) and (event.name, event.args) == (command, args)


@pytest.mark.parametrize("text", ["/", "/ 123", "//note", "/号码"])
def test_slash_texts_that_are_not_commands(text: str) -> None:
    event = update_to_message(update(**message(text=text)))
    assert isinstance(event, Text) and event.text == text


def test_button_press() -> None:
    query = {"id": "q", "from": USER, "chat_instance": "c", "data": "12:find",
             "message": {"message_id": 9, "date": 0, "chat": CHAT, "text": "menu"}}
    event = update_to_message(update(callback_query=query))
    assert isinstance(event, ButtonPress)
    assert (event.choice, event.version, event.chat_id, event.message_id) == ("find", 12, 7, 9)


def test_foreign_callback_data_is_an_expired_choice() -> None:
    query = {"id": "q", "from": USER, "chat_instance": "c", "data": "garbage",
             "message": {"message_id": 9, "date": 0, "chat": CHAT, "text": "menu"}}
    event = update_to_message(update(callback_query=query))
    assert isinstance(event, ButtonPress) and (event.choice, event.version) == ("", -1)


@pytest.mark.parametrize(("fields", "kind"), [
    ({"photo": [{"file_id": "small", "file_unique_id": "a", "width": 1, "height": 1},
                {"file_id": "big", "file_unique_id": "b", "width": 9, "height": 9}], "caption": "发票"}, "photo"),
    ({"document": {"file_id": "d", "file_unique_id": "d", "file_name": "invoice.pdf", "mime_type": "application/pdf"}},
     "document"),
    ({"sticker": {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
                  "is_animated": False, "is_video": False}}, "sticker"),
    ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}}, "voice"),
    ({"location": {"latitude": 1.0, "longitude": 2.0}}, "location"),
    ({"contact": {"phone_number": "1", "first_name": "x"}}, "contact"),
])
def test_attachments(fields: dict[str, Any], kind: str) -> None:
    event = update_to_message(update(**message(**fields)))
    assert isinstance(event, FileSent) and event.attachment.kind == kind
    if kind == "photo":
        assert (event.attachment.file_id, event.caption) == ("big", "发票")


def test_an_album_and_an_edited_caption() -> None:
    photo = {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}], "caption": "三张"}
    album = update_to_message(update(**message(**photo)), album=(3, 4, 5), batch=(2, 3))
    assert isinstance(album, AlbumReceived) and album.message_ids == (3, 4, 5) and album.updates == [1, 2, 3]
    edited = update_to_message(update(edited_message=message(**photo)["message"]))
    assert isinstance(edited, FileSent) and edited.edited and edited.caption == "三张"


def test_a_topic_closed_by_hand() -> None:
    closed = update_to_message(update(**message(forum_topic_closed={}, message_thread_id=77, is_topic_message=True)))
    assert isinstance(closed, TopicClosed) and closed.thread_id == 77


def test_updates_without_a_user_are_ignored() -> None:
    post = {"message_id": 1, "date": 0, "chat": {"id": -100, "type": "channel", "title": "公告"}, "text": "hi"}
    assert update_to_message(update(channel_post=post)) is None


def test_keyboard_from_reply() -> None:
    reply = Reply("x", ((Button("查找", "find"),), (Button("菜单", "menu"), Button("人工", "human"))), version=41)
    markup = reply_markup(reply)
    assert [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard] == [
        [("查找", "41:find")], [("菜单", "41:menu"), ("人工", "41:human")]]
    assert reply_markup(Reply("no buttons")) is None


def test_choice_codec() -> None:
    assert decode_choice(encode_choice(123456789, "access")) == (123456789, "access")
    assert decode_choice("x:y") is None and decode_choice(None) is None
    with pytest.raises(ValueError):
        encode_choice(1, "x" * 70)


def test_flood_guard_throttles_one_user_only() -> None:
    from assistant.adapters.telegram import FloodGuard

    now = [0.0]
    guard = FloodGuard(3, 10.0, clock=lambda: now[0])
    assert [guard.allow(1) for _ in range(5)] == [(True, False)] * 3 + [(False, True), (False, False)]
    assert guard.allow(2) == (True, False)  # someone else is not affected
    now[0] = 10.5
    assert guard.allow(1) == (True, False)
    now[0] = 100.0
    guard.forget_idle()
    assert guard.allow(1) == (True, False)


def test_flood_guard_remembers_only_recent_users() -> None:
    from assistant.adapters.telegram import FloodGuard

    now = [0.0]
    guard = FloodGuard(3, 10.0, clock=lambda: now[0])
    for user_id in range(100_000):  # a million users over a day: only the last window's are kept
        now[0] = user_id * 0.01
        guard.allow(user_id)
    assert len(guard._seen) <= 2 * 10.0 / 0.01
    assert [guard.allow(99_999) for _ in range(3)] == [(True, False), (True, False), (False, True)]
