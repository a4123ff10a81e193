"""Prometheus metrics: what an operator watches (served on `/metrics` in polling and webhook mode).

Definitions only: nothing here connects or reads configuration. Counters and histograms are updated where the
thing happens; the gauges that need the database (inbox pending, outbox unsent, tickets) are refreshed by the
bookkeeping timer, never by a scrape. Alert rules that use them: deploy/prometheus-alerts.yml (docs/metrics.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from assistant.store.uow import Units

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)  # memory, CPU, open files of this process

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

UPDATES_RECEIVED = Counter("assistant_updates_received", "Updates stored in the inbox.", registry=REGISTRY)
UPDATES_HANDLED = Counter("assistant_updates_handled", "Updates handled, by result (done, retried, dead).",
                          ["result"], registry=REGISTRY)
HANDLING_SECONDS = Histogram("assistant_handling_seconds", "Handling a chat's batch of updates, to its outputs committed.",
                             buckets=_SECONDS, registry=REGISTRY)
INBOX_PENDING = Gauge("assistant_inbox_pending", "Updates stored and not handled yet.", registry=REGISTRY)
DEAD_LETTERS = Gauge("assistant_dead_letters", "Updates given up after their tries (kept for admins).",
                     registry=REGISTRY)
OUTBOX_UNSENT = Gauge("assistant_outbox_unsent", "Outputs committed and not sent yet.", registry=REGISTRY)
OUTBOX_GIVEN_UP = Gauge("assistant_outbox_given_up", "Outputs given up after their tries (kept a while).",
                        registry=REGISTRY)
BOT_API_CALLS = Counter("assistant_bot_api_calls", "Bot API requests, by method and result (ok, error, 429).",
                        ["method", "result"], registry=REGISTRY)
FILE_READS = Counter("assistant_file_reads", "Files read, by result (read, or why there are no fields).",
                     ["result"], registry=REGISTRY)
FILE_READ_SECONDS = Histogram("assistant_file_read_seconds", "Time a file spent in a reader.",
                              buckets=(0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0), registry=REGISTRY)
FILE_WAIT = Histogram("assistant_file_wait_seconds", "Time a file waited for a reader (fair shares).",
                      buckets=(0.0, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0), registry=REGISTRY)
LOOKUPS = Counter("assistant_lookups", "Diagnoses given, by outcome.", ["outcome"], registry=REGISTRY)
TICKETS_OPEN = Gauge("assistant_tickets_open", "Tickets not closed.", registry=REGISTRY)
TICKETS_UNCLAIMED = Gauge("assistant_tickets_unclaimed", "Open tickets no staff member has claimed.",
                          registry=REGISTRY)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


async def refresh_gauges(units: Units) -> None:
    """Read the gauges that need the database (run by a timer, one short read-only transaction)."""
    async with units() as unit:
        inbox = await unit.inbox.counts()
        unsent, given_up = await unit.outbox.counts()
        open_tickets, unclaimed = await unit.tickets.open_counts()
    INBOX_PENDING.set(inbox.get("pending", 0))
    DEAD_LETTERS.set(inbox.get("dead", 0))
    OUTBOX_UNSENT.set(unsent)
    OUTBOX_GIVEN_UP.set(given_up)
    TICKETS_OPEN.set(open_tickets)
    TICKETS_UNCLAIMED.set(unclaimed)
