"""`/id` (for setting the bot up): the chat's and the sender's ids, in any chat, changing nothing."""

from __future__ import annotations

import pytest

from assistant.messages import Command
from assistant.outputs import Copy, Reply
from tests.conftest import SUPPORT_CHAT, Chat
from tests.factories import add_user
from tests.integration.test_support import open_ticket


async def test_id_in_a_private_chat_and_during_a_ticket_is_answered_not_relayed(chat: Chat, assistant, sessions,
                                                                                clock) -> None:
    await add_user(sessions, clock.now)
    text = await chat.command("id")
    assert "本对话的 ID：<code>1000</code>" in text and "您的 Telegram 用户 ID：<code>1000</code>" in text
    await open_ticket(chat, assistant, clock)
    outputs = await chat.send(Command, name="id")
    assert not any(isinstance(o, Copy) for o in outputs)  # not copied into the ticket's topic
    [reply] = [o for o in outputs if isinstance(o, Reply)]
    assert reply.chat_id == 1000 and "<code>1000</code>" in reply.text


@pytest.mark.parametrize("language", ["zh", "en"])
async def test_id_in_the_support_group_names_the_group_the_sender_and_the_topic(assistant, language) -> None:
    outputs = await assistant.handle(Command(user_id=77, chat_id=SUPPORT_CHAT, thread_id=5, name="id",
                                             language=language, message_id=3))
    [reply] = outputs
    assert isinstance(reply, Reply) and (reply.chat_id, reply.thread_id, reply.reply_to) == (SUPPORT_CHAT, 5, 3)
    assert f"<code>{SUPPORT_CHAT}</code>" in reply.text and "<code>77</code>" in reply.text
    assert "<code>5</code>" in reply.text and "SUPPORT_CHAT_ID" in reply.text
    assert ("本群的 ID" if language == "zh" else "This group's id") in reply.text
