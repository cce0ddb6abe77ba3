"""The relay: the event store is the outbox; every published event goes to the broker from a
checkpoint that moves only after the broker confirmed everything before it.

Driver-free: the broker is a ``Publisher`` (the AMQP adapter next door, ``amqp.py``), the
checkpoint a ``Checkpoint``. Batches are published in position order on one channel, so the
broker sees each aggregate's events in order; up to ``window`` batches await their confirms at
once. Any failure (nack, timeout, lost connection) drops everything unconfirmed and starts again
from the last confirmed position after a backoff: duplicates, never gaps, and a duplicate is the
same message (same ``message_id``) because formatting is deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Protocol

import msgspec

from domain.cascade import CascadeMapping, Formatter, OutgoingMessage, messages_for
from domain.store import EventStore

log = logging.getLogger("im.relay")


class Publisher(Protocol):
    """The broker side of the relay."""

    @property
    def connected(self) -> bool: ...

    async def ready(self) -> None:
        """Return once publishing is possible (connecting or waiting for a reconnect)."""
        ...

    def publish(self, messages: Sequence[OutgoingMessage]) -> asyncio.Future[int]:
        """Hand the messages to the broker in this order before returning; the future resolves
        (to the number the broker returned as unroutable) once every one is confirmed, and
        fails if any is not (nack, timeout, connection lost)."""
        ...

    async def close(self) -> None: ...


class Checkpoint(Protocol):
    """Where the relay keeps the position up to which the broker confirmed every event."""

    async def load(self) -> int: ...

    async def save(self, position: int) -> None: ...


class RelayStatus(msgspec.Struct):
    position: int  # every event up to here is confirmed by the broker
    saved: int  # the durable checkpoint (<= position)
    published: int
    unroutable: int
    failures: int
    connected: bool | None  # None: the relay runs in another process
    error: str | None


_Inflight = tuple[int, int, "asyncio.Future[int]"]  # (last position, messages, confirmation)


class Relay:
    def __init__(
        self,
        events: EventStore,
        checkpoint: Checkpoint,
        publisher: Publisher,
        mapping: CascadeMapping,
        fmt: Formatter,
        *,
        window: int = 8,
        save_interval: float = 0.2,
        backoff: tuple[float, float] = (0.05, 5.0),
    ) -> None:
        self._events = events
        self._checkpoint = checkpoint
        self._publisher = publisher
        self._mapping = mapping
        self._fmt = fmt
        self._window = window
        self._save_interval = save_interval
        self._backoff = backoff
        self._confirmed = 0
        self._saved = 0
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.published = 0
        self.unroutable = 0
        self.failures = 0
        self.error: str | None = None

    @property
    def position(self) -> int:
        return self._confirmed

    def status(self) -> RelayStatus:
        return RelayStatus(
            position=self._confirmed,
            saved=self._saved,
            published=self.published,
            unroutable=self.unroutable,
            failures=self.failures,
            connected=self._publisher.connected,
            error=self.error,
        )

    async def start(self) -> None:
        self._confirmed = self._saved = await self._checkpoint.load()
        self._tasks = [
            asyncio.create_task(self._run(), name="relay"),
            asyncio.create_task(self._saver(), name="relay-checkpoint"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        if self._confirmed > self._saved:
            await self._save()
        await self._publisher.close()

    async def _run(self) -> None:
        delay = self._backoff[0]
        while True:
            before = self._confirmed
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or store trouble: back off, resume from confirmed
                self.failures += 1
                self.error = f"{type(exc).__name__}: {exc}"
                if self._confirmed > before:
                    delay = self._backoff[0]
                log.warning(
                    "relay: %s; retrying from %d in %.2fs", self.error, self._confirmed, delay
                )
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, self._backoff[1])

    async def _session(self) -> None:
        await self._publisher.ready()
        inflight: asyncio.Queue[_Inflight] = asyncio.Queue(maxsize=self._window)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._pump(inflight))
                group.create_task(self._confirm(inflight))
        except BaseExceptionGroup as eg:
            raise eg.exceptions[0] from None
        finally:
            while not inflight.empty():
                _, _, confirmation = inflight.get_nowait()
                confirmation.cancel()
                with contextlib.suppress(BaseException):
                    await confirmation

    async def _pump(self, inflight: asyncio.Queue[_Inflight]) -> None:
        subscription = self._events.subscribe(self._confirmed)
        try:
            async for batch in subscription:
                messages, undecodable = messages_for(batch, self._mapping, self._fmt)
                for rec in undecodable:
                    log.warning("relay: no event class for %s at %d", rec.type, rec.position)
                if messages:
                    confirmation = self._publisher.publish(messages)
                else:
                    confirmation = asyncio.get_running_loop().create_future()
                    confirmation.set_result(0)
                try:
                    await inflight.put((batch[-1].position, len(messages), confirmation))
                except BaseException:  # cancelled while the window was full
                    confirmation.cancel()
                    raise
        finally:
            aclose = getattr(subscription, "aclose", None)
            if aclose is not None:
                await aclose()

    async def _confirm(self, inflight: asyncio.Queue[_Inflight]) -> None:
        while True:
            position, count, confirmation = await inflight.get()
            self.unroutable += await confirmation
            self._confirmed = position
            self.published += count
            self.error = None
            self._dirty.set()

    async def _saver(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._save()
            except Exception as exc:
                log.warning("relay: saving the checkpoint failed (%s); will retry", exc)
                self._dirty.set()
            await asyncio.sleep(self._save_interval)

    async def _save(self) -> None:
        position = self._confirmed
        if position > self._saved:
            await self._checkpoint.save(position)
            self._saved = position
