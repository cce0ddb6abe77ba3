"""The timer of scheduled notifications: each is pushed when its ``scheduled_at`` comes.

A notification created with ``scheduled_at`` in the future is recorded without a push. This
timer keeps the pending ones in a heap (from the notifications read model at start, then from
new ``NotificationCreated`` events) and, when one falls due, appends ``NotificationDue`` to the
recipient's stream, which the pusher delivers as ``notification_created``.

Restart-safe and never doubled: the ``NotificationDue`` event id is derived from the
notification, so a second process, or this one after a restart (which reloads what is due
within the lookback, including what fell due while it was down), appends the same event and
the event store answers with the original. Deleted notifications are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable

from commands.notifications import NotificationHandlers
from domain import notifications as n
from domain.codec import UnknownEventError
from domain.store import EventStore

log = logging.getLogger("im.notify")

LOOKBACK_SECONDS = 7 * 86400  # at start, notifications due this long ago are still pushed
_IDLE_S = 60.0


class NotificationTimer:
    def __init__(
        self,
        events: EventStore,
        scheduled_since: Callable[[float], Awaitable[list[n.NotificationDue]]],
        handlers: NotificationHandlers,
        projected: Callable[[], Awaitable[int]],
    ) -> None:
        self._events = events
        self._scheduled_since = scheduled_since  # from the read models, at start
        self._handlers = handlers
        self._projected = projected  # the read models' position: the start of our follow
        self._heap: list[tuple[float, int, n.NotificationDue]] = []
        self._known: set[int] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0

    @property
    def pending(self) -> int:
        return len(self._heap)

    async def start(self) -> None:
        position = await self._projected()
        since = time.time() - LOOKBACK_SECONDS
        for due in await self._scheduled_since(since):
            self._add(due)
        self._tasks = [
            asyncio.create_task(self._follow(position), name="notification-timer-follow"),
            asyncio.create_task(self._run(), name="notification-timer"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    def _add(self, due: n.NotificationDue) -> None:
        if due.scheduled_at is None or due.notification_id in self._known:
            return
        self._known.add(due.notification_id)
        heapq.heappush(self._heap, (due.scheduled_at, due.notification_id, due))
        self._wake.set()

    async def _follow(self, position: int) -> None:
        """New scheduled notifications, from the read models' position on (no gap at start)."""
        while True:
            try:
                async for batch in self._events.subscribe(position):
                    for rec in batch:
                        if rec.type != "NotificationCreated":
                            continue
                        try:
                            event = rec.decode()
                        except UnknownEventError:
                            continue
                        if (
                            isinstance(event, n.NotificationCreated)
                            and event.scheduled_at
                            and event.scheduled_at > event.at
                        ):
                            self._add(_due_of(event))
                    position = batch[-1].position
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("notification timer: following the events failed", exc_info=True)
                await asyncio.sleep(1.0)

    async def _run(self) -> None:
        while True:
            now = time.time()
            while self._heap and self._heap[0][0] <= now:
                _, nid, due = heapq.heappop(self._heap)
                try:
                    if await self._handlers.deliver_due(due) is not None:
                        self.delivered += 1
                    self._known.discard(nid)
                except Exception:  # the store is unreachable: try again in a second
                    log.warning("scheduled notification %d not pushed yet", nid, exc_info=True)
                    heapq.heappush(self._heap, (now + 1.0, nid, due))
                    break
            wait = min(_IDLE_S, self._heap[0][0] - time.time()) if self._heap else _IDLE_S
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, wait)):
                    await self._wake.wait()


def _due_of(event: n.NotificationCreated) -> n.NotificationDue:
    return n.NotificationDue(
        notification_id=event.notification_id,
        user_id=event.user_id,
        title=event.title,
        content=event.content,
        kind=event.kind,
        priority=event.priority,
        data=event.data,
        scheduled_at=event.scheduled_at,
        created_at=event.at,
    )
