"""One WebSocket connection: a bounded outgoing queue drained by its own writer task."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable

import msgspec
from starlette.websockets import WebSocket

from queries.realtime.frames import Frame

log = logging.getLogger("im.ws")

CLOSE_UNAUTHORIZED = 4401
CLOSE_BAD_REQUEST = 4400
CLOSE_IDLE = 4408
CLOSE_RESYNC = 4409
CLOSE_TOO_MANY = 4429  # IM_WS_MAX_PER_USER connections of this user are open already
CLOSE_SLOW = 1013  # "try again later": reconnect with ?since= and nothing is lost
CLOSE_GOING_AWAY = 1001
_CLOSE_TIMEOUT_S = 1.0
_ids = itertools.count(1)


class Limits(msgspec.Struct, frozen=True):
    """Per-connection bounds: frames and bytes waiting to be written."""

    frames: int = 1000
    bytes: int = 1 << 20


class Connection:
    """Frames are queued without blocking; the writer sends them in order.

    While the connection replays missed events, live frames wait in ``pending``; ``end_replay``
    moves those past the replay's end behind the replayed ones. Overflowing either bound closes
    the connection (``CLOSE_SLOW``) and frees its queue: a slow or dead client never makes the
    pusher wait and never grows memory past ``Limits``.
    """

    def __init__(
        self,
        ws: WebSocket,
        user_id: int,
        limits: Limits,
        abort: Callable[[], None] | None,
        direct: Callable[[Frame], bool] | None = None,
    ) -> None:
        self.id = f"c{next(_ids)}"
        self.user_id = user_id
        self.replaying = False
        self.seam = 0  # the highest position the client has (or replay covered)
        self.closing = False
        self.close_code: int | None = None
        self.sent = 0
        self._ws = ws
        self._limits = limits
        self._abort = abort
        self._direct = direct
        self._sending = False
        self._queue: deque[Frame] = deque()
        self._pending: deque[Frame] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        self._space = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._queue) + len(self._pending)

    def _fits(self, frame: Frame) -> bool:
        lim = self._limits
        return self.queued < lim.frames and self._bytes + frame.size <= lim.bytes

    def push(self, frame: Frame) -> None:
        """Queue a live frame; never blocks. Overflow closes the connection as too slow.

        Positions only grow per connection, so a frame at or below ``seam`` is one the client
        has (replayed, or delivered before the pusher retried a batch) and is dropped.
        """
        if self.closing:
            return
        position = frame.position
        if position is not None and position <= self.seam:
            return
        if self.replaying:
            self._enqueue(frame, self._pending)
            return
        if position is not None:
            self.seam = position
        if (
            self._direct is not None
            and not self._queue
            and not self._sending
            and self._writer is not None
            and self._direct(frame)
        ):  # nothing ahead of it and the socket takes it now: no queue, no task switch
            self.sent += 1
            return
        self._enqueue(frame, self._queue)

    def _enqueue(self, frame: Frame, queue: deque[Frame]) -> None:
        if not self._fits(frame):
            self.fail(CLOSE_SLOW, "too slow: outgoing queue full; reconnect with since")
            return
        self._bytes += frame.size
        queue.append(frame)
        if queue is self._queue:
            self._wake.set()

    def push_first(self, frame: Frame) -> None:
        """Put a frame ahead of everything queued (``connection_established``)."""
        self._bytes += frame.size
        self._queue.appendleft(frame)
        self._wake.set()

    async def push_replay(self, frame: Frame) -> None:
        """Queue a replayed frame, waiting for room (replay follows the client's pace)."""
        while not self.closing and len(self._queue) >= self._limits.frames // 2:
            self._space.clear()
            await self._space.wait()
        if self.closing:
            return
        self._bytes += frame.size
        self._queue.append(frame)
        self._wake.set()

    def end_replay(self, seam: int) -> None:
        """Replay is complete up to ``seam``: release the live frames that came after it."""
        self.seam = max(self.seam, seam)
        self.replaying = False
        pending, self._pending = self._pending, deque()
        for frame in pending:
            self._bytes -= frame.size
            self.push(frame)
        self._wake.set()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"ws-writer-{self.id}")

    async def _write(self) -> None:
        queue = self._queue
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while queue:
                    frame = queue.popleft()
                    self._bytes -= frame.size
                    self._space.set()
                    self._sending = True
                    try:
                        await self._ws.send_text(frame.text)
                    finally:
                        self._sending = False
                    self.sent += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # the peer went away; the reader notices and cleans up
            self.closing = True
            self._space.set()

    def fail(self, code: int, reason: str) -> None:
        """Close from a synchronous context (the pusher): drop the queue and close soon."""
        if self.closing:
            return
        log.info("closing %s of user %d: %s", self.id, self.user_id, reason)
        self.closing = True
        self.close_code = code
        self._drop()
        self._closer = asyncio.create_task(self.close(code, reason))

    def _drop(self) -> None:
        self._queue.clear()
        self._pending.clear()
        self._bytes = 0
        self._space.set()

    async def close(self, code: int, reason: str = "") -> None:
        """Send a close frame; a peer that does not take it within a second is cut off."""
        self.closing = True
        self.close_code = self.close_code or code
        self._drop()
        if self._writer is not None:
            self._writer.cancel()
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self._ws.close(code, reason)
        except TimeoutError:
            if self._abort is not None:
                self._abort()
        except Exception:  # already closed by the peer
            pass

    async def drain_and_stop(self) -> None:
        """Stop the writer (the socket is gone or closing)."""
        self.closing = True
        self._drop()
        if self._writer is not None:
            self._writer.cancel()
        for task in (self._writer, self._closer):  # the closer ends within its own timeout
            if task is not None and task is not asyncio.current_task():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
