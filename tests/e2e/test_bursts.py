"""A burst of handoffs against Telegram's real limits: nobody else waits for the support group, nothing twice.

The scenario is the benchmark's (`bench/handoff_burst.py`), asserted here: the fake Bot API enforces
Telegram's 20 messages a minute per group (429 beyond), so 80 handoffs at once put 160 messages (a topic
and a card each) in the support group's queue: eight minutes of it. Meanwhile other merchants ask for
/help and are measured; the outbox lease is 3 s, so an output whose lease were not renewed while it
waits for the group's turn would be sent again many times over.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.store.models import OutboxEntry
from bench.handoff_burst import SUPPORT, report, run
from tests.stored import rows

pytestmark = pytest.mark.e2e
HANDOFFS = 80


async def test_a_burst_of_handoffs_delays_nobody_else_and_sends_nothing_twice(backend: str, database_url: str,
                                                                              sessions, tmp_path: Path) -> None:
    figures = await run(backend, database_url, handoffs=HANDOFFS, asking=8, seconds=15.0, lease=3.0, work=tmp_path)
    report(figures, HANDOFFS, 15.0)
    assert figures.p99 < 1.0  # other chats' /help, during the burst
    assert figures.confirmations_twice == 0  # every merchant told once
    assert figures.tickets_with_two_topics == 0 and figures.cards_twice == 0
    assert figures.topics >= 10  # the group's pace: topics keep being created meanwhile
    assert figures.group_429 == 0  # the bot kept to the group's limit: Telegram never had to say so
    assert not figures.handed_out_again  # no lease ran out: nothing handed out again
    async with sessions() as session:
        owed = [entry for entry in await rows(session, OutboxEntry) if entry.chat_id == SUPPORT and not entry.sent_at]
    assert owed and all(entry.attempts == 0 for entry in owed)  # waiting for the group's turn, given back untried
