"""Telegram's webhook served by starlette: secret-token check, each update stored before it is answered.

200 means stored in the inbox (it is handled from there, or, when the database refuses it for good, kept
there as a dead letter for admins); 503 asks Telegram to deliver it again later (the database could not
be reached); 400, 403 and 413 refuse what should not be retried. The body is
read with a streaming cap, so a huge body costs no more than the cap.

A button press is answered in the 200 itself (Telegram carries out one Bot API method given in a
webhook's response): the merchant's client stops its progress indicator at once, and the bot spends no
call of its own on it. The stored update says so (`ANSWERED`), so that handling does not answer again.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from assistant.metrics import exposition

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_BODY = 1_000_000
ANSWERED = "answered_in_webhook_response"
"""Set in a stored button press whose callback query the webhook's response answered."""


def press_answer(data: dict[str, Any]) -> dict[str, Any] | None:
    """The `answerCallbackQuery` to give in the response to a button press; None for other updates."""
    query = data.get("callback_query")
    if isinstance(query, dict) and isinstance(query.get("id"), str):
        return {"method": "answerCallbackQuery", "callback_query_id": query["id"]}
    return None


async def read_capped(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` bytes (whatever Content-Length said)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def webhook_app(*, path: str, secret: str, healthy: Callable[[], Awaitable[bool]],
                receive: Callable[[list[dict[str, Any]]], Awaitable[None]]) -> Starlette:
    async def telegram(request: Request) -> Response:
        if not secrets.compare_digest(request.headers.get(SECRET_HEADER, ""), secret):
            logger.warning("webhook call from %s without the right secret token",
                           request.client.host if request.client else "?")
            return Response(status_code=403)
        body = await read_capped(request, MAX_BODY)
        if body is None:
            return Response(status_code=413)
        try:
            data = json.loads(body)
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise ValueError("not an update")
        except ValueError as error:  # malformed: tell Telegram not to retry it
            logger.warning("malformed update rejected: %s", error)
            return Response(status_code=400)
        answer = press_answer(data)
        try:
            await receive([{**data, ANSWERED: True} if answer else data])
        except Exception as error:  # noqa: BLE001 - the database is away: Telegram delivers it again
            logger.warning("update %s not stored (%s); answered 503", data["update_id"], error)
            return Response(status_code=503)
        return JSONResponse(answer) if answer else Response()

    return Starlette(routes=[Route(path, telegram, methods=["POST"]), *operator_routes(healthy)])


def operator_routes(healthy: Callable[[], Awaitable[bool]]) -> list[Route]:
    """`/healthz` (200 while the database answers, else 503) and `/metrics` (Prometheus' text format)."""

    async def healthz(request: Request) -> Response:
        ok = await healthy()
        return PlainTextResponse("ok" if ok else "database unavailable", status_code=200 if ok else 503)

    async def metrics(request: Request) -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]


def operator_app(healthy: Callable[[], Awaitable[bool]]) -> Starlette:
    """The operator's endpoints alone (polling mode, where there is no webhook server)."""
    return Starlette(routes=operator_routes(healthy))
