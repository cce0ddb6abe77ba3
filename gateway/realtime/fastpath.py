"""Writing a frame straight to the socket when uvicorn's sans-I/O WebSocket protocol can take it.

A server's text frame without extensions is the same bytes for every connection, so a frame
pushed to 1,000 members is serialized once and handed to each transport, instead of going
through an ASGI ``send`` per connection. It is used only when the connection is open, writable
(not paused by flow control) and negotiated no extension; otherwise, or with another server,
the connection's queue and writer task carry the frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.protocol import State

from queries.realtime.frames import Frame

DirectWrite = Callable[[Frame], bool]

_memo: list[Any] = [None, b""]  # the last frame serialized, and its bytes


def wire_bytes(frame: Frame) -> bytes:
    """The unmasked WebSocket text frame of ``frame`` (memoized for consecutive calls)."""
    if _memo[0] is not frame:
        payload = frame.text.encode()
        _memo[1] = WireFrame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])
        _memo[0] = frame
    data: bytes = _memo[1]
    return data


def direct_writer(receive: Any) -> DirectWrite | None:
    """A writer for this connection's transport, or None when the server is not uvicorn's
    ``WebSocketsSansIOProtocol`` (its ``receive`` is a method of the protocol object)."""
    proto: Any = getattr(receive, "__self__", None)
    conn = getattr(proto, "conn", None)
    transport = getattr(proto, "transport", None)
    writable = getattr(proto, "writable", None)
    if conn is None or transport is None or not isinstance(writable, asyncio.Event):
        return None
    if not hasattr(conn, "extensions") or not hasattr(proto, "close_sent"):
        return None

    def write(frame: Frame) -> bool:
        if (
            conn.extensions
            or not writable.is_set()
            or proto.close_sent
            or conn.state is not State.OPEN
            or transport.is_closing()
        ):
            return False
        transport.write(wire_bytes(frame))
        return True

    return write
