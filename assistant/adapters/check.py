"""`bot.py check`: what an operator verifies before (and after) going live, each ✓ or ✗ with the fix.

Nothing is changed: the schema is compared, not migrated; the webhook is read, not set.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assistant.adapters.failures import explain
from assistant.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


async def check_database(settings: Settings) -> list[Check]:
    from assistant.store.engine import make_engine
    from assistant.store.migrate import known_revisions, schema_revisions

    engine = make_engine(settings.database_url, 1)
    try:
        current, head = await schema_revisions(engine)
    except Exception as error:  # noqa: BLE001 - reported as a failed check
        said = explain(error, database_url=settings.database_url)
        return [Check("database", False, said[0] if said else f"{type(error).__name__}: {error}",
                      "fix DATABASE_URL, or start the database")]
    finally:
        await engine.dispose()
    checks = [Check("database", True, f"reachable ({engine.url.render_as_string(hide_password=True)})")]
    if current == head:
        checks.append(Check("schema", True, f"up to date (revision {head})"))
    elif current is None:
        checks.append(Check("schema", False, "empty database",
                            "run `bot.py db upgrade` (or start the bot: it migrates)"))
    elif current in known_revisions():
        checks.append(Check("schema", False, f"at revision {current}, this release needs {head}",
                            "run `bot.py db upgrade` (or start the bot: it migrates)"))
    else:
        checks.append(Check("schema", False, f"at revision {current}, which this release does not know",
                            "run the newer release, or restore a backup made for this one"))
    return checks


async def check_telegram(settings: Settings, bot: Any) -> list[Check]:
    """Token, reachability, webhook state and the support group's rights, through `bot` (proxy and all)."""
    from telegram.error import TelegramError

    try:
        me = await bot.get_me()
    except TelegramError as error:
        said = explain(error, bot_api=settings.telegram_api_base_url)
        return [Check("Bot API", False, said[0] if said else str(error),
                      "check TELEGRAM_BOT_TOKEN, the network, and TELEGRAM_PROXY")]
    checks = [Check("Bot API", True, f"reachable; the token is @{me.username}'s")]
    info = await bot.get_webhook_info()
    mode = "webhook" if settings.webhook_url else "polling"
    if info.url and not settings.webhook_url:
        checks.append(Check("webhook", False, f"set to {info.url}, but this process would poll",
                            "set WEBHOOK_URL to it, or stop the webhook processes and run with --force"))
    elif settings.webhook_url and info.url != settings.webhook_url:
        checks.append(Check("webhook", False, f"Telegram has {info.url or 'none'}, WEBHOOK_URL is "
                            f"{settings.webhook_url}", "start the bot: it sets the webhook"))
    elif info.last_error_message:
        checks.append(Check("webhook", False, f"{mode}; Telegram's last delivery error: {info.last_error_message}",
                            "make WEBHOOK_URL reachable from the internet over https"))
    else:
        checks.append(Check("webhook", True, f"{mode}; {info.pending_update_count} update(s) waiting at Telegram"))
    checks.append(await check_support_group(settings, bot))
    return checks


async def check_support_group(settings: Settings, bot: Any) -> Check:
    from telegram.error import TelegramError

    group = settings.support_chat_id
    if group is None:
        return Check("support group", False, "SUPPORT_CHAT_ID is not set: tickets are stored, nobody is told",
                     "add the bot to a group with topics, make it an admin, put the group's id in SUPPORT_CHAT_ID")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the raw call is on purpose: only two fields are wanted
            chat = await bot.do_api_request("getChat", api_kwargs={"chat_id": group})
        member = await bot.get_chat_member(group, bot.id)
    except TelegramError as error:
        return Check("support group", False, f"{group}: {error}",
                     "add the bot to the support group, and check SUPPORT_CHAT_ID")
    title = chat.get("title", group) if isinstance(chat, dict) else group
    if isinstance(chat, dict) and not chat.get("is_forum"):
        return Check("support group", False, f"{title}: topics are off", "turn on Topics in the group's settings")
    if member.status != "creator" and not getattr(member, "can_manage_topics", False):
        return Check("support group", False, f"{title}: the bot may not create topics ({member.status})",
                     "make the bot an admin with the right to manage topics")
    return Check("support group", True, f"{title}: topics on, the bot may manage them")


def settings_summary(settings: Settings) -> list[Check]:
    url = settings.database_url.split("@")[-1] if "@" in settings.database_url else settings.database_url
    return [Check("settings", True, f"{'webhook ' + settings.webhook_url if settings.webhook_url else 'long polling'}"
                  f"; database {url}; admins {len(settings.admin_ids)}; language {settings.default_language}; "
                  f"time zone {settings.timezone}; metrics "
                  f"{f'{settings.metrics_listen}:{settings.metrics_port}' if settings.metrics_port else 'off'}")]


async def run_checks(settings: Settings, make_bot: Callable[[], Any] | None,
                     token_error: Callable[[], str | None]) -> list[Check]:
    """Every check; the Telegram ones only with a well-formed token."""
    checks = settings_summary(settings) + await check_database(settings)
    problem = token_error()
    if problem is not None:
        return [*checks, Check("Bot API", False, problem)]
    assert make_bot is not None
    bot = make_bot()
    try:
        await bot.initialize()
    except Exception as error:  # noqa: BLE001 - reported as a failed check
        said = explain(error, bot_api=settings.telegram_api_base_url)
        return [*checks, Check("Bot API", False, said[0] if said else f"{type(error).__name__}: {error}",
                               "check TELEGRAM_BOT_TOKEN, the network, and TELEGRAM_PROXY")]
    try:
        return [*checks, *await check_telegram(settings, bot)]
    finally:
        await bot.shutdown()

