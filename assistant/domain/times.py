"""Times typed by admins: "+90m", "+2h", "18:00" (local, the next such time) or "2026-11-23 18:00"."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

_UNITS = {"m": "minutes", "min": "minutes", "分钟": "minutes", "h": "hours", "小时": "hours", "d": "days", "天": "days"}


def parse_time(value: str, tz: ZoneInfo, now: datetime) -> datetime | None:
    """An aware datetime, or None when the text is not a time."""
    text = unicodedata.normalize("NFKC", value).strip().replace("：", ":")
    if match := re.fullmatch(r"\+\s*(\d+)\s*(m|min|h|d|分钟|小时|天)", text):
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    local_now = now.astimezone(tz)
    if match := re.fullmatch(r"(\d{1,2}):(\d{2})", text):
        hour, minute = int(match.group(1)), int(match.group(2))
        if hour > 23 or minute > 59:
            return None
        moment = local_now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        return moment if moment > local_now else moment + timedelta(days=1)
    try:
        moment = datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
