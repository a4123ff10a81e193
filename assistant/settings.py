"""Settings from the environment and an optional `.env` file."""

from __future__ import annotations

import logging
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/assistant.sqlite3"


class Settings(BaseSettings):
    """Everything the commands need; built once, in `bot.py`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    database_connections: int = Field(default=20, ge=1, le=500)
    """PostgreSQL connections this process keeps open (SQLite always has one). Transactions beyond it wait."""
    sync_delay_hours: float = Field(default=24.0, gt=0)
    default_language: str = Field(default="zh", pattern="^(zh|en)$")
    timezone: str = "Asia/Shanghai"
    max_years_back: int = Field(default=5, ge=1)
    max_field_failures: int = Field(default=3, ge=1)
    max_message_chars: int = Field(default=1000, ge=50)
    log_level: str = "INFO"

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_api_file_url: str = "https://api.telegram.org/file/bot"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    support_chat_id: int | None = None
    support_hours: str = Field(default="09:00-18:00", pattern=r"^\d{1,2}:\d{2}-\d{1,2}:\d{2}$")
    support_weekdays: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    claim_timeout_minutes: float = Field(default=15.0, gt=0)
    max_escalations: int = Field(default=3, ge=1)
    tickets_per_day: int = Field(default=5, ge=1)
    """Times one merchant may ask for a person per Beijing day (new tickets, and withdrawn ones taken up again)."""
    scheduler_interval_seconds: float = Field(default=30.0, gt=0)
    announce_days: int = Field(default=30, ge=1)
    lookups_per_invoice_per_day: int = Field(default=5, ge=1)
    distinct_invoices_per_hour: int = Field(default=20, ge=1)
    flood_messages: int = Field(default=20, ge=1)
    flood_seconds: float = Field(default=10.0, gt=0)
    telegram_max_rate: float = Field(default=30.0, ge=0)
    """Bot API requests per second for this process (0: no limiter, e.g. behind a local Bot API server)."""
    telegram_connections: int = Field(default=16, ge=1, le=256)
    """HTTP connections to the Bot API (sends wait for a free one; 16 carry far more than Telegram's 30/s)."""
    telegram_group_rate: int = Field(default=20, ge=0)
    """Messages to one group (the support group) per `telegram_group_period` seconds (0: no pacing)."""
    telegram_group_period: float = Field(default=60.0, gt=0)
    telegram_chat_rate: float = Field(default=1.0, ge=0)
    """Messages a second to one private chat, after a burst of `telegram_chat_burst` (0: no pacing)."""
    telegram_chat_burst: int = Field(default=10, ge=1)
    broadcast_rate: float = Field(default=25.0, gt=0, le=30)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8080
    poll_timeout: float = Field(default=10.0, ge=0)
    outbox_lease_seconds: float = Field(default=30.0, gt=0)
    outbox_attempts: int = Field(default=5, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    """Tries at one update (failures and crashes) before it is dead-lettered."""
    inbox_lease_seconds: float = Field(default=60.0, gt=0)
    inbox_concurrency: int = Field(default=64, ge=1)
    read_memory_mb: int = Field(default=1280, ge=64)  # OCR maps ~1.1 GB of address space (docs/photos.md)
    read_seconds: float = Field(default=15.0, gt=0)
    read_workers: int = Field(default=2, ge=1)
    read_queue_per_chat: int = Field(default=3, ge=0)
    """Files of one chat that may wait for a reader (more are refused, and the merchant told)."""

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("support_weekdays", mode="before")
    @classmethod
    def _weekdays(cls, value: object) -> object:
        """"1-5" or "1,2,3,4,5,6" (1 = Monday)."""
        if isinstance(value, str):
            days: list[int] = []
            for part in value.replace(" ", "").split(","):
                if "-" in part:
                    first, last = part.split("-", 1)
                    days.extend(range(int(first), int(last) + 1))
                elif part:
                    days.append(int(part))
            value = days
        if isinstance(value, list) and not all(1 <= int(day) <= 7 for day in value):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday)")
        return value

    @property
    def support_times(self) -> tuple[time, time]:
        opens, closes = self.support_hours.split("-")
        return time.fromisoformat(opens.zfill(5)), time.fromisoformat(closes.zfill(5))

    @property
    def sync_delay(self) -> timedelta:
        return timedelta(hours=self.sync_delay_hours)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
