"""Settings from the environment and an optional `.env` file."""

from __future__ import annotations

import logging
from datetime import timedelta
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
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8080
    poll_timeout: float = Field(default=10.0, ge=0)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @property
    def sync_delay(self) -> timedelta:
        return timedelta(hours=self.sync_delay_hours)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
