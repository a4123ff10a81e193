"""`bot.py check`: what an operator verifies before (and after) going live, each ✓ or ✗ with the fix.

Nothing is changed: the schema is compared, not migrated; the webhook is read, not set. The lines are in
DEFAULT_LANGUAGE (cli_texts.toml); what `explain` says of a failure is English.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assistant.adapters.cli_texts import tell
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

    from sqlalchemy.engine import make_url

    lang = settings.default_language
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" and not Path(
            url.database).exists():  # looking must not create it (as the wrong user, say)
        return [Check(tell("check_database", lang), False, tell("database_missing", lang, path=url.database),
                      tell("fix_create_database", lang))]
    engine = make_engine(settings.database_url, 1)
    try:
        current, head = await schema_revisions(engine)
    except Exception as error:  # noqa: BLE001 - reported as a failed check
        said = explain(error, database_url=settings.database_url)
        return [Check(tell("check_database", lang), False, said[0] if said else f"{type(error).__name__}: {error}",
                      tell("fix_database", lang))]
    finally:
        await engine.dispose()
    checks = [Check(tell("check_database", lang), True,
                    tell("database_reachable", lang, url=engine.url.render_as_string(hide_password=True)))]
    schema = tell("check_schema", lang)
    if current == head:
        checks.append(Check(schema, True, tell("schema_current", lang, head=head)))
    elif current is None:
        checks.append(Check(schema, False, tell("schema_empty", lang), tell("fix_migrate", lang)))
    elif current in known_revisions():
        checks.append(Check(schema, False, tell("schema_behind", lang, current=current, head=head),
                            tell("fix_migrate", lang)))
    else:
        checks.append(Check(schema, False, tell("schema_unknown", lang, current=current),
                            tell("fix_newer_release", lang)))
    return checks


async def check_telegram(settings: Settings, bot: Any) -> list[Check]:
    """Token, reachability, webhook state and the support group's rights, through `bot` (proxy and all)."""
    from telegram.error import TelegramError

    lang = settings.default_language
    try:
        me = await bot.get_me()
    except TelegramError as error:
        said = explain(error, bot_api=settings.telegram_api_base_url)
        return [Check(tell("check_bot_api", lang), False, said[0] if said else str(error), tell("fix_bot_api", lang))]
    checks = [Check(tell("check_bot_api", lang), True, tell("bot_api_reachable", lang, username=me.username))]
    info = await bot.get_webhook_info()
    mode = tell("mode_webhook" if settings.webhook_url else "mode_polling", lang)
    webhook = tell("check_webhook", lang)
    if info.url and not settings.webhook_url:
        checks.append(Check(webhook, False, tell("webhook_but_polling", lang, url=info.url),
                            tell("fix_webhook_but_polling", lang)))
    elif settings.webhook_url and info.url != settings.webhook_url:
        checks.append(Check(webhook, False, tell("webhook_differs", lang, url=info.url or tell("webhook_none", lang),
                                                ours=settings.webhook_url), tell("fix_webhook_differs", lang)))
    elif info.last_error_message:
        checks.append(Check(webhook, False, tell("webhook_failing", lang, mode=mode, error=info.last_error_message),
                            tell("fix_webhook_failing", lang)))
    else:
        checks.append(Check(webhook, True, tell("webhook_fine", lang, mode=mode, count=info.pending_update_count)))
    checks.append(await check_support_group(settings, bot))
    return checks


async def check_support_group(settings: Settings, bot: Any) -> Check:
    from telegram.error import TelegramError

    lang = settings.default_language
    name = tell("check_support_group", lang)
    group = settings.support_chat_id
    if group is None:
        return Check(name, False, tell("support_unset", lang), tell("fix_support_unset", lang))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the raw call is on purpose: only two fields are wanted
            chat = await bot.do_api_request("getChat", api_kwargs={"chat_id": group})
        member = await bot.get_chat_member(group, bot.id)
    except TelegramError as error:
        return Check(name, False, tell("support_error", lang, group=group, error=error),
                     tell("fix_support_error", lang))
    title = chat.get("title", group) if isinstance(chat, dict) else group
    if isinstance(chat, dict) and not chat.get("is_forum"):
        return Check(name, False, tell("topics_off", lang, title=title), tell("fix_topics_off", lang))
    if member.status != "creator" and not getattr(member, "can_manage_topics", False):
        return Check(name, False, tell("topics_not_allowed", lang, title=title, status=member.status),
                     tell("fix_topics_not_allowed", lang))
    return Check(name, True, tell("support_fine", lang, title=title))


def settings_summary(settings: Settings) -> list[Check]:
    url = settings.database_url.split("@")[-1] if "@" in settings.database_url else settings.database_url
    lang = settings.default_language
    mode = (f"{tell('mode_webhook', lang)} {settings.webhook_url}" if settings.webhook_url
            else tell("mode_polling", lang))
    metrics = f"{settings.metrics_listen}:{settings.metrics_port}" if settings.metrics_port else tell("metrics_off", lang)
    return [Check(tell("check_settings", lang), True,
                  tell("settings_found", lang, mode=mode, database=url, admins=len(settings.admin_ids),
                      language=settings.default_language, tz=settings.timezone, metrics=metrics))]


async def run_checks(settings: Settings, make_bot: Callable[[], Any] | None,
                     token_error: Callable[[], str | None]) -> list[Check]:
    """Every check; the Telegram ones only with a well-formed token."""
    checks = settings_summary(settings) + await check_database(settings)
    problem = token_error()
    bot_api = tell("check_bot_api", settings.default_language)
    if problem is not None:
        return [*checks, Check(bot_api, False, problem)]
    assert make_bot is not None
    bot = make_bot()
    try:
        await bot.initialize()
    except Exception as error:  # noqa: BLE001 - reported as a failed check
        said = explain(error, bot_api=settings.telegram_api_base_url)
        return [*checks, Check(bot_api, False, said[0] if said else f"{type(error).__name__}: {error}",
                               tell("fix_bot_api", settings.default_language))]
    try:
        return [*checks, *await check_telegram(settings, bot)]
    finally:
        await bot.shutdown()

