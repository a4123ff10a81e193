"""Telegram's webhook served by starlette: secret-token check, each update handled before it is answered.

200 means handled (its outputs are in the outbox); 503 asks Telegram to deliver it again later (the
database could not be reached); 400, 403 and 413 refuse what should not be retried.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1_000_000


def webhook_app(application: Application, *, path: str, secret: str,  # type: ignore[type-arg]
                healthy: Callable[[], Awaitable[bool]], process: Callable[[Update], Awaitable[bool]]) -> Starlette:
    async def telegram(request: Request) -> Response:
        if not secrets.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            logger.warning("webhook call from %s without the right secret token",
                           request.client.host if request.client else "?")
            return Response(status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return Response(status_code=413)
        try:
            update = Update.de_json(json.loads(body), application.bot)
        except Exception as error:  # noqa: BLE001 - malformed update: tell Telegram not to retry it
            logger.warning("malformed update rejected: %s", error)
            return Response(status_code=400)
        if not await process(update):
            return Response(status_code=503)
        return Response()

    async def healthz(request: Request) -> Response:
        ok = await healthy()
        return PlainTextResponse("ok" if ok else "database unavailable", status_code=200 if ok else 503)

    return Starlette(routes=[Route(path, telegram, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])])
