"""The bot's profile: its commands (from the routing table), descriptions in both languages, and whether it
may create topics in the support group."""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import BadRequest, TelegramError

from assistant.replies import LANGUAGES, Renderer
from assistant.routing import ADMIN_COMMANDS, MENU_COMMANDS, STAFF_COMMANDS

logger = logging.getLogger(__name__)


def _commands(renderer: Renderer, language: str, names: tuple[str, ...]) -> list[BotCommand]:
    return [BotCommand(name, renderer.text("command_description", language, command=name)) for name in names]


async def set_up_bot_profile(bot: Any, renderer: Renderer, default_language: str,
                             admins: dict[int, str] | None = None, support_chat_id: int | None = None) -> None:
    """Commands, description and short description in both languages (and the default); admins see theirs,
    and the support group its staff's."""
    for admin_id, language in (admins or {}).items():
        try:
            await bot.set_my_commands(_commands(renderer, language, MENU_COMMANDS + ADMIN_COMMANDS),
                                      scope=BotCommandScopeChat(admin_id))
        except BadRequest as error:  # the admin has not talked to the bot yet
            logger.info("admin commands not set for %s: %s", admin_id, error)
    for code in (*LANGUAGES, None):  # None sets the default for every other language
        lang = code or default_language
        if support_chat_id is not None:
            try:
                await bot.set_my_commands(_commands(renderer, lang, STAFF_COMMANDS), language_code=code,
                                          scope=BotCommandScopeChat(support_chat_id))
            except BadRequest as error:  # the bot is not in the group (yet): `bot.py check` says so
                logger.warning("staff commands not set for the support group %s: %s", support_chat_id, error)
        commands = _commands(renderer, lang, MENU_COMMANDS)
        await bot.set_my_commands(commands, language_code=code)
        await bot.set_my_description(renderer.text("bot_description", lang), language_code=code)
        await bot.set_my_short_description(renderer.text("bot_short_description", lang), language_code=code)


async def support_rights(bot: Any, support_chat_id: int | None) -> bool:
    """Whether the bot may create topics in the support group (True when there is none to check)."""
    if support_chat_id is None:
        return True
    try:
        member = await bot.get_chat_member(support_chat_id, bot.id)
    except TelegramError as error:
        logger.error("the support group %s cannot be checked: %s", support_chat_id, error)
        return False
    allowed = member.status == "creator" or bool(getattr(member, "can_manage_topics", False))
    if not allowed:
        logger.error("the bot may not create topics in the support group %s (%s)", support_chat_id, member.status)
    return allowed
