"""Service figures for `/stats`: satisfaction and response times, in total and per staff member."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Served:
    """One ticket's times and rating (times in UTC; None: did not happen yet)."""

    created_at: datetime
    assignee_id: int | None
    first_reply_at: datetime | None
    closed_at: datetime | None
    rating: int | None


@dataclass(frozen=True)
class Service:
    tickets: int
    rated: int
    average_rating: float | None
    ratings: tuple[int, int, int, int, int]
    """How many tickets got 1, 2, 3, 4 and 5 stars."""
    median_first_reply_minutes: float | None
    median_close_minutes: float | None


def _median_minutes(spans: Iterable[float]) -> float | None:
    values = list(spans)
    return round(statistics.median(values) / 60, 1) if values else None


def service(records: Sequence[Served]) -> Service:
    rated = [r.rating for r in records if r.rating is not None and 1 <= r.rating <= 5]
    return Service(
        tickets=len(records), rated=len(rated),
        average_rating=round(sum(rated) / len(rated), 2) if rated else None,
        ratings=tuple(sum(1 for stars in rated if stars == n) for n in range(1, 6)),  # type: ignore[arg-type]
        median_first_reply_minutes=_median_minutes((r.first_reply_at - r.created_at).total_seconds()
                                                   for r in records if r.first_reply_at is not None),
        median_close_minutes=_median_minutes((r.closed_at - r.created_at).total_seconds()
                                             for r in records if r.closed_at is not None))


def by_staff(records: Sequence[Served]) -> dict[int, Service]:
    """The same figures for each staff member's tickets (the one who took the ticket)."""
    staff = sorted({r.assignee_id for r in records if r.assignee_id is not None})
    return {member: service([r for r in records if r.assignee_id == member]) for member in staff}
