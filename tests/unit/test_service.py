"""Service figures: ratings and response times, in total and per staff member."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from assistant.domain.service import Served, by_staff, service

T0 = datetime(2026, 6, 15, 2, 0, tzinfo=timezone.utc)


def ticket(assignee: int | None, reply_minutes: float | None, close_minutes: float | None,
           rating: int | None) -> Served:
    return Served(T0, assignee, T0 + timedelta(minutes=reply_minutes) if reply_minutes is not None else None,
                  T0 + timedelta(minutes=close_minutes) if close_minutes is not None else None, rating)


def test_totals_and_per_staff_member() -> None:
    records = [ticket(500, 4, 30, 5), ticket(500, 10, 60, 4), ticket(501, 2, None, None), ticket(None, None, None, None)]
    total = service(records)
    assert (total.tickets, total.rated, total.average_rating, total.ratings) == (4, 2, 4.5, (0, 0, 0, 1, 1))
    assert total.median_first_reply_minutes == 4.0 and total.median_close_minutes == 45.0
    staff = by_staff(records)
    assert set(staff) == {500, 501}
    assert staff[500].median_first_reply_minutes == 7.0 and staff[500].average_rating == 4.5
    assert staff[501].rated == 0 and staff[501].average_rating is None and staff[501].median_close_minutes is None


def test_nothing_yet() -> None:
    empty = service([])
    assert (empty.tickets, empty.average_rating, empty.median_first_reply_minutes) == (0, None, None)
