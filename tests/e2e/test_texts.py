"""End to end: texts over Telegram's limits reach people whole; what users send is cleaned at the edge.

The fake Bot API refuses what Telegram refuses (4,096 characters a message, 1,024 a caption), with
Telegram's error texts.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.fake_bot_api import FakeBotAPI, Merchant, buttons_of
from tests.e2e.test_handoff import desk, not_found, staff_in, ticket_of  # noqa: F401 - desk is a fixture

pytestmark = pytest.mark.e2e


@pytest.mark.usefixtures("desk")
async def test_a_close_reason_longer_than_a_message_reaches_the_merchant_whole(api: FakeBotAPI, clock) -> None:
    merchant = Merchant(api, 1001)
    topic, card = await not_found(api, merchant, clock)
    ticket = ticket_of(card)
    reason = "".join(f"第{i}条：开票方已在电子税务局补传，请次日再查验。" for i in range(200))  # ≈ 5,000 characters
    assert len(reason) > 4096
    before = len(merchant.inbox)
    await staff_in(api, topic).send(f"/close {reason}")
    await api.wait_for(lambda: any(f"rate.{ticket}.5" in data for m in merchant.inbox[before:]
                                   for _, data in buttons_of(m)))
    received = merchant.inbox[before:]
    assert not [call for call in api.calls if call.status == 400 and "too long" in str(call.params)]
    telling = [m for m in received if "第" in m["text"]]
    assert len(telling) >= 2  # split into messages Telegram accepts
    assert all(len(m["text"]) <= 4096 for m in telling)
    joined = re.sub(r"\s+", "", "".join(m["text"] for m in telling))
    assert re.sub(r"\s+", "", reason) in joined  # nothing of it lost
    assert buttons_of(telling[-1]) and not any(buttons_of(m) for m in telling[:-1])  # the rating under the last
    await merchant.press_on(telling[-1], f"rate.{ticket}.5")
    await api.wait_for(lambda: any("5 星" in m["text"] for m in merchant.inbox))


@pytest.mark.usefixtures("desk")
async def test_a_name_with_nul_and_broken_characters_is_served(api: FakeBotAPI, sessions) -> None:
    from assistant.store.uow import UnitOfWork

    merchant = Merchant(api, 1003, name="王\x00经理\ud83d")
    assert "请选择您需要的服务" in await merchant.say("/start")
    assert "请选择您需要的服务" in await merchant.say("/start")  # and every later message too
    async with sessions() as session:
        user = await UnitOfWork(session).users.get(1003)
    assert user is not None and "\x00" not in user.name and user.name.startswith("王经理")
