"""Settings from the environment and optional `.env` files (the project's, then DATA_DIR's)."""

from __future__ import annotations

import logging
import os
from datetime import time, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, NoDecode, PydanticBaseSettingsSource, \
    SettingsConfigDict
from sqlalchemy.engine import make_url
from typing_extensions import Annotated

logger = logging.getLogger(__name__)

PROJECT_DIR = Path(__file__).resolve().parent.parent
"""bot.py's folder: `.env`, the default database and relative SQLite paths resolve from it, never from the
working directory."""
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/assistant.sqlite3"
"""Relative to the project directory, or DATA_DIR/assistant.sqlite3 when DATA_DIR is set."""
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class Settings(BaseSettings):
    """Everything the commands need; built once, in `bot.py`."""

    model_config = SettingsConfigDict(env_file=PROJECT_DIR / ".env", env_file_encoding="utf-8", extra="ignore",
                                      env_ignore_empty=True)

    database_url: str = DEFAULT_DATABASE_URL
    database_connections: int = Field(default=20, ge=1, le=500)
    """PostgreSQL connections this process keeps open (SQLite always has one). Transactions beyond it wait."""
    import_database_url: str | None = None
    """Where invoice imports admins confirm in Telegram write: PostgreSQL directly when DATABASE_URL goes
    through PgBouncer in transaction mode (an import keeps temporary tables on one connection); unset,
    DATABASE_URL."""
    sync_delay_hours: float = Field(default=24.0, gt=0)
    default_language: str = Field(default="zh", pattern="^(zh|en)$")
    timezone: str = "Asia/Shanghai"
    """An IANA time zone name: what "today" and times shown to merchants mean."""
    max_years_back: int = Field(default=5, ge=1)
    max_field_failures: int = Field(default=3, ge=1)
    max_message_chars: int = Field(default=1000, ge=50)
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$")
    """`json`: one JSON object a line (for a log collector)."""
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    """Where `/healthz` and `/metrics` are served in polling mode (0: not served). Webhook mode serves them on
    the webhook's own port."""
    metrics_listen: str = "127.0.0.1"

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_api_file_url: str = "https://api.telegram.org/file/bot"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    support_chat_id: int | None = None
    support_hours: str = "09:00-18:00"
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
    webhook_port: int = Field(default=8080, ge=1, le=65535)
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
    retain_lookups_days: int = Field(default=180, ge=1)
    """Days a lookup keeps who asked about which invoice (then only its outcome and time are kept)."""
    retain_tickets_days: int = Field(default=365, ge=1)
    """Days after closing that a ticket keeps the merchant's name, fields and the map of relayed messages."""
    retain_audit_days: int = Field(default=365, ge=1)
    retain_inactive_users_days: int = Field(default=365, ge=1)
    """Days without a conversation after which a merchant's name and conversation are erased."""
    read_queue_per_chat: int = Field(default=3, ge=0)
    """Files of one chat that may wait for a reader (more are refused, and the merchant told)."""

    @field_validator("import_database_url")
    @classmethod
    def _import_database_url(cls, value: str | None) -> str | None:
        return cls._database_url(value) if value else None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        """Only the two drivers the assistant ships with; the usual other spellings get the right one."""
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError(f"{value!r} is not a URL: use sqlite+aiosqlite:///path/to/file.sqlite3 or "
                             "postgresql+asyncpg://user@host/db")
        if scheme in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
            user, at, host = rest.rpartition("@")
            shown = f"{user.split(':')[0]}{':***' if ':' in user else ''}{at}{host}"
            raise ValueError(f"use postgresql+asyncpg://{shown} (the asyncpg driver)")
        if scheme in ("sqlite", "sqlite+pysqlite"):
            raise ValueError(f"use sqlite+aiosqlite://{rest}")
        if scheme not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
            raise ValueError(f"{scheme}:// is not supported: use PostgreSQL (postgresql+asyncpg://…) or SQLite "
                             "(sqlite+aiosqlite:///…)")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as Asia/Shanghai") from None
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ValueError(f"{value!r} is not a log level: use DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("support_hours")
    @classmethod
    def _support_hours(cls, value: str) -> str:
        import re

        match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", value)
        if not match or int(match[1]) > 23 or int(match[3]) > 23 or int(match[2]) > 59 or int(match[4]) > 59:
            raise ValueError(f"{value!r} is not a span of hours: write it like 09:00-18:00")
        return f"{int(match[1]):02d}:{match[2]}-{int(match[3]):02d}:{match[4]}"

    # -- where files live, and the way out to Telegram (deploy/.env.example lists every setting) ---------
    data_dir: Path | None = None
    """Folder of the default SQLite database (DATA_DIR/assistant.sqlite3) and of a `.env` read over the
    project's. Relative paths resolve from the project directory."""
    telegram_proxy: SecretStr | None = None
    """Proxy for every Bot API request and file download: http://, https://, socks5:// or socks5h://
    (socks5h: the proxy resolves api.telegram.org). Unset: HTTPS_PROXY / HTTP_PROXY and NO_PROXY apply."""

    @field_validator("telegram_proxy")
    @classmethod
    def _proxy_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        parts = urlsplit(value.get_secret_value().strip())
        try:
            port: int | None | bool = parts.port
        except ValueError:  # not a number, or past 65535
            port = False
        if parts.scheme not in PROXY_SCHEMES or not parts.hostname or port is False \
                or (parts.scheme.startswith("socks") and not port):
            raise ValueError("use http://host:port, https://host:port, socks5://host:port or socks5h://host:port "
                             "(user:password@ before the host if the proxy asks)")
        return SecretStr(value.get_secret_value().strip())

    @model_validator(mode="after")
    def _anchor_paths(self) -> Settings:
        """DATA_DIR absolute; the default database in it; relative SQLite paths from the project directory."""
        if self.data_dir is not None:
            self.data_dir = (PROJECT_DIR / self.data_dir.expanduser()).resolve()
        if "database_url" not in self.model_fields_set and self.data_dir is not None:
            self.database_url = f"sqlite+aiosqlite:///{(self.data_dir / 'assistant.sqlite3').as_posix()}"
        if self.database_url.startswith("sqlite"):
            try:
                url = make_url(self.database_url)
            except Exception:  # noqa: BLE001 - a malformed URL is reported where the engine is made
                return self
            database = url.database or ""
            if database and database != ":memory:" and not database.startswith("file:") \
                    and not Path(database).is_absolute():
                self.database_url = url.set(database=(PROJECT_DIR / database).resolve().as_posix()) \
                    .render_as_string(hide_password=False)
        return self

    @property
    def proxy_url(self) -> str | None:
        return self.telegram_proxy.get_secret_value() if self.telegram_proxy is not None else None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment first, then DATA_DIR/.env (when DATA_DIR is in the environment), then the project's."""
        data_dir = os.environ.get("DATA_DIR", "").strip()
        if not data_dir or not isinstance(dotenv_settings, DotEnvSettingsSource) or dotenv_settings.env_file is None:
            return init_settings, env_settings, dotenv_settings, file_secret_settings
        data_env = DotEnvSettingsSource(settings_cls, env_file=PROJECT_DIR / Path(data_dir).expanduser() / ".env")
        return init_settings, env_settings, data_env, dotenv_settings, file_secret_settings

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
            wrong = [part for part in parts if not part.lstrip("-").isdigit()]
            if wrong:
                raise ValueError(f"{wrong[0]!r} is not a Telegram user id: give numbers separated by commas")
            return [int(part) for part in parts]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("support_weekdays", mode="before")
    @classmethod
    def _weekdays(cls, value: object) -> object:
        """"1-5" or "1,2,3,4,5,6" (1 = Monday)."""
        if isinstance(value, str):
            days: list[int] = []
            for part in filter(None, value.replace(" ", "").split(",")):
                first, _, last = part.partition("-")
                if not first.isdigit() or (last and not last.isdigit()):
                    raise ValueError(f"{value!r} is not a list of weekdays: write it like 1-5 or 1,2,3,4,5,6 "
                                     "(1 = Monday)")
                days.extend(range(int(first), int(last or first) + 1))
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
