"""The floor for bench/load.py: a minimal python-telegram-bot echo bot (long polling, updates concurrently).

    python bench/echo_bot.py   (TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE_URL from the environment)

With ECHO_CONNECTIONS=n it keeps at most n HTTP connections instead of python-telegram-bot's 256:
httpcore's pool does work per request that grows with the square of its connections, so with many
chats at once the stock bot slows down, and a floor that sinks flatters whoever is measured against it.
"""

from __future__ import annotations

import logging
import os

from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    builder = (Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"])
               .base_url(os.environ["TELEGRAM_API_BASE_URL"]).concurrent_updates(256))
    if os.environ.get("ECHO_CONNECTIONS"):
        builder = builder.connection_pool_size(int(os.environ["ECHO_CONNECTIONS"])).pool_timeout(10.0)
    application = builder.build()
    application.add_handler(MessageHandler(filters.TEXT, echo))
    application.run_polling(allowed_updates=Update.ALL_TYPES, timeout=10)


if __name__ == "__main__":
    main()
