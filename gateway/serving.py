"""The HTTP protocol uvicorn runs for us: httptools, plus a deadline for the request head.

uvicorn arms no timer while a client is sending a request's head: a client that connects and
sends nothing, or drips a header line a minute, holds a connection (and a file descriptor)
for ever. ``guarded_protocol`` answers such a client 408 and closes once
``IM_HEADER_TIMEOUT_SECONDS`` have passed since the connection opened or the previous response
ended (keep-alive idling is uvicorn's own ``timeout_keep_alive``). Bodies have their own
deadline per chunk, in ``gateway.limits``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _response_408() -> bytes:
    body = b'{"detail":"The request head took too long to arrive"}'
    return (
        b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def guarded_protocol(header_timeout: float) -> type[HttpToolsProtocol]:
    """An httptools protocol class that cuts off slow request heads after ``header_timeout``."""

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(header_timeout, self._head_too_slow)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_too_slow(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.write(_response_408())
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return GuardedHttpToolsProtocol
