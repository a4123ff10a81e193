"""The Telegram transport: updates mapped to the core's messages, the core's outputs carried out over the
Bot API (python-telegram-bot as the client)."""

from assistant.adapters.telegram.inbound import (
    FloodGuard,
    UpdateContext,
    decode_choice,
    download,
    encode_choice,
    received,
    telegram_files,
    update_to_message,
)
from assistant.adapters.telegram.outbound import GlobalPace, TelegramAdapter, TelegramBroadcast, reply_markup
from assistant.adapters.telegram.profile import set_up_bot_profile

__all__ = ["FloodGuard", "GlobalPace", "TelegramAdapter", "TelegramBroadcast", "UpdateContext", "decode_choice",
           "download", "encode_choice", "received", "reply_markup", "set_up_bot_profile", "telegram_files",
           "update_to_message"]
