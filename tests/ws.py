"""WebSocket test helpers: a frame reader with deadlines. (The client that never reads is
``bench.realtime_deaf.Deaf``.)"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from tests.helpers import API

# Frames without a position (presence, typing, pong) can arrive at any time.
EPHEMERAL = ("user_status_changed", "typing", "pong")
# notification_created has a position (it can be resumed like any event) but comes from the
# notification policy, asynchronously: a test about chat frames skips it where it waits for
# another frame, and the duplicate check of every connection (``live``) still covers it.
SKIP = (*EPHEMERAL, "notification_created")


def ws_url(base: str, token: str | None, *, path: str | None = None, **params: Any) -> str:
    url = base.replace("http://", "ws://") + (path or f"{API}/realtime/ws")
    query = {"token": token, **params} if token is not None else dict(params)
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


class Live:
    """A connected client: ``next`` returns decoded frames in order, with a deadline. Every frame
    is kept in ``frames`` (skipped ones too) for ``check_positions``."""

    def __init__(self, ws: ClientConnection, since: int | None = None) -> None:
        self.ws = ws
        self.since = since
        self.frames: list[dict[str, Any]] = []

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        frame: dict[str, Any] = json.loads(raw)
        self.frames.append(frame)
        return frame

    def check_positions(self) -> None:
        """Every frame with a position, of any type: after ``since`` and strictly increasing,
        so nothing arrived twice and nothing from before the resume point came again."""
        positions = [f["position"] for f in self.frames if f.get("position") is not None]
        assert positions == sorted(set(positions)), f"a frame arrived twice: {positions}"
        if self.since is not None and positions:
            assert positions[0] > self.since, (positions[0], self.since)

    async def marker(self, kind: str, match: Callable[[dict[str, Any]], bool]) -> None:
        """The next frame that is not ephemeral is ``kind`` and ``match``es: nothing else came
        before the marker the test just caused (the positive signal instead of a quiet wait)."""
        frame = await self.expect(kind)
        assert match(frame), f"expected the marker, got {frame}"

    async def expect(
        self, kind: str, timeout: float = 5.0, skip: tuple[str, ...] = SKIP
    ) -> dict[str, Any]:
        """The next frame of ``kind``, skipping ephemeral ones; anything else fails."""
        deadline = time.monotonic() + timeout
        while True:
            frame = await self.next(max(0.01, deadline - time.monotonic()))
            if frame["type"] == kind:
                return frame
            assert frame["type"] in skip, f"expected {kind}, got {frame}"

    async def ping(self) -> dict[str, Any]:
        await self.ws.send(json.dumps({"type": "ping"}))
        return await self.expect("pong", skip=("user_status_changed", "typing"))


@asynccontextmanager
async def live(base: str, token: str, **params: Any) -> AsyncIterator[Live]:
    """Connect and consume ``connection_established``."""
    async with websockets.connect(ws_url(base, token, **params), ping_interval=None) as ws:
        since = params.get("since")
        client = Live(ws, int(since) if since is not None else None)
        first = await client.next()
        assert first["type"] == "connection_established", first
        yield client
        client.check_positions()


async def close_code(url: str, timeout: float = 5.0) -> tuple[int, list[str]]:
    """Connect and read until the server closes: (close code, frames received before it)."""
    frames: list[str] = []
    async with websockets.connect(url, ping_interval=None) as ws:
        try:
            while True:
                frames.append(str(await asyncio.wait_for(ws.recv(), timeout)))
        except websockets.ConnectionClosed as exc:
            received = exc.rcvd
    if received is None:
        raise AssertionError("closed without a close frame")
    return received.code, frames
