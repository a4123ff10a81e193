"""The figures `/stats` and `bot.py stats` show: lookups, tickets, satisfaction and response times per period."""

from __future__ import annotations

import html
import logging
import statistics
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from assistant.domain.service import Service, by_staff, service
from assistant.outputs import RatingsChart
from assistant.replies import Renderer
from assistant.store.contracts import UnitOfWork

logger = logging.getLogger(__name__)

PERIODS: tuple[tuple[str, int], ...] = (("today", 0), ("week", 6), ("month", 29))
"""Each period's name and how many days before today it starts (local midnight, in TIMEZONE)."""


@dataclass(frozen=True)
class StaffService:
    label: str
    """The staff member's alias, else name, else Telegram id."""
    service: Service


@dataclass(frozen=True)
class Period:
    name: str
    lookups: int
    outcomes: list[tuple[str, int]]
    opened: int
    closed: int
    median_claim_minutes: float | None
    service: Service
    staff: list[StaffService]


async def periods(store: UnitOfWork, now: datetime, tz: ZoneInfo) -> list[Period]:
    """Today, the last 7 days and the last 30 days (each counted from local midnight)."""
    local_midnight = datetime.combine(now.astimezone(tz).date(), time.min, tzinfo=tz)
    labels: dict[int, str] = {}
    result = []
    for name, days in PERIODS:
        since = local_midnight - timedelta(days=days)
        outcomes = await store.lookups.outcome_counts(since)
        opened, closed = await store.tickets.counts(since)
        waits = await store.tickets.claim_waits(since)
        served = await store.tickets.served(since)
        staff = []
        for member, figures in by_staff(served).items():
            if member not in labels:
                user = await store.users.get(member)
                labels[member] = (user.alias or user.name or str(member)) if user else str(member)
            staff.append(StaffService(labels[member], figures))
        result.append(Period(name, sum(outcomes.values()), sorted(outcomes.items(), key=lambda kv: (-kv[1], kv[0])),
                             opened, closed, round(statistics.median(waits), 1) if waits else None,
                             service(served), sorted(staff, key=lambda s: (-s.service.tickets, s.label))))
    return result


def ratings_chart(renderer: Renderer, language: str, chat_id: int, figures: list[Period]) -> RatingsChart | None:
    """The periods' ratings as a picture (how they spread reads better drawn), or None when nobody rated yet."""
    if not any(period.service.rated for period in figures):
        return None

    def labels(lang: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
        def part_of(part: str, **context: object) -> str:
            return html.unescape(renderer.text("stats_chart", lang, part=part, **context))
        return (part_of("title"), tuple(part_of("row", name=p.name) for p in figures),
                tuple(part_of("note", service=p.service) for p in figures))

    title, rows, notes = labels(language)
    latin_title, latin_rows, latin_notes = labels("en")
    return RatingsChart(chat_id, renderer.text("stats_chart", language, part="caption"), title, rows, notes,
                        tuple(tuple(p.service.ratings) for p in figures), latin_title, latin_rows, latin_notes)
