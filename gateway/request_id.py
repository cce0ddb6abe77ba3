"""``X-Request-ID``: taken from the request or generated, echoed on the response, and opened
as the trace (``domain.tracing``) whose correlation id every event of the request carries.

Handlers read it with ``domain.tracing.request_id()`` (or ``scope["state"]["request_id"]``);
log records get it as ``record.request_id`` through ``RequestIdFilter``.
"""

from __future__ import annotations

import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain import tracing

HEADER = b"x-request-id"
_VALID = re.compile(r"[\x21-\x7e]{1,200}")  # visible ASCII; anything else is replaced


def _incoming(scope: Scope) -> str:
    for key, value in scope["headers"]:
        if key == HEADER:
            text: str = value.decode("latin-1")
            if _VALID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestId:
    """Pure ASGI middleware (no task switch: handlers run inside the trace it opens)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = _incoming(scope)
        scope.setdefault("state", {})["request_id"] = rid
        echo = (HEADER, rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        token = tracing.begin(tracing.Trace(rid))
        try:
            await self.app(scope, receive, send_with_id if scope["type"] == "http" else send)
        finally:
            tracing.end(token)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (``-`` outside a request) to every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = tracing.request_id() or "-"
        return True
