"""The relay: the event store is the outbox; every published event goes to the broker from a
checkpoint that moves only after the broker confirmed everything before it.

A pipelined follower (``projections.follower`` subscribes, backs off and stops it).
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
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import msgspec

from domain.cascade import CascadeMapping, Formatter, OutgoingMessage, messages_for
from domain.store import RecordedEvent
from projections.follower import FollowerStatus

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

    async def rewind(self, position: int) -> None:
        """Move the checkpoint back (``save`` only moves it forward)."""
        ...


class RelayStatus(msgspec.Struct):
    position: int  # every event up to here is confirmed by the broker
    saved: int  # the durable checkpoint (<= position)
    published: int
    unroutable: int
    failures: int
    connected: bool | None  # None: the relay runs in another process
    error: str | None


_Inflight = tuple[int, int, "asyncio.Future[int]"]  # (last position, messages, confirmation)


Render = Callable[[Sequence[RecordedEvent]], Awaitable[list[OutgoingMessage]]]
"""Another protocol's messages for a batch, in order (the legacy protocol's, which needs
lookups); without one the relay formats each published event with ``fmt``."""


class Relay:
    name = "relay"

    def __init__(
        self,
        checkpoint: Checkpoint,
        publisher: Publisher,
        mapping: CascadeMapping,
        fmt: Formatter,
        *,
        window: int = 8,
        save_interval: float = 0.2,
        render: Render | None = None,
        name: str = "relay",
    ) -> None:
        self.name = name
        self._render = render
        self._checkpoint = checkpoint
        self._publisher = publisher
        self._mapping = mapping
        self._fmt = fmt
        self._window = window
        self._save_interval = save_interval
        self._confirmed = 0
        self._saved = 0
        self._dirty = asyncio.Event()
        self._inflight: asyncio.Queue[_Inflight] = asyncio.Queue(maxsize=window)
        self.published = 0
        self.unroutable = 0

    @property
    def position(self) -> int:
        return self._confirmed

    def status(self, runtime: FollowerStatus) -> RelayStatus:
        return RelayStatus(
            position=self._confirmed,
            saved=self._saved,
            published=self.published,
            unroutable=self.unroutable,
            failures=runtime.failures,
            connected=self._publisher.connected,
            error=runtime.error,
        )

    async def close(self) -> None:
        await self._publisher.close()

    # -- as a follower ---------------------------------------------------------------------------
    async def start_at(self) -> int:
        self._confirmed = self._saved = await self._checkpoint.load()
        return self._confirmed

    async def rewind(self, position: int) -> None:
        """The log lost its tail: continue from its head (new events reuse those positions)."""
        await self._checkpoint.rewind(position)
        self._confirmed = self._saved = position

    async def resume(self) -> None:
        return None

    async def prepare_session(self) -> None:
        await self._publisher.ready()
        self._inflight = asyncio.Queue(maxsize=self._window)

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        if self._render is not None:
            messages = await self._render(batch)
        else:
            messages, undecodable = messages_for(batch, self._mapping, self._fmt)
            for rec in undecodable:
                log.warning("relay: no event class for %s at %d", rec.type, rec.position)
        if messages:
            confirmation = self._publisher.publish(messages)
        else:
            confirmation = asyncio.get_running_loop().create_future()
            confirmation.set_result(0)
        try:
            await self._inflight.put((batch[-1].position, len(messages), confirmation))
        except BaseException:  # cancelled while the window was full
            confirmation.cancel()
            raise

    async def watch(self) -> None:
        """Move the position as the broker confirms, and save it now and then."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._confirm())
            group.create_task(self._saver())

    async def settle(self) -> None:
        """Drop everything unconfirmed (it is sent again from the confirmed position)."""
        while not self._inflight.empty():
            _, _, confirmation = self._inflight.get_nowait()
            confirmation.cancel()
            with contextlib.suppress(BaseException):
                await confirmation
        if self._confirmed > self._saved:
            await self._save()

    async def _confirm(self) -> None:
        while True:
            position, count, confirmation = await self._inflight.get()
            self.unroutable += await confirmation
            self._confirmed = position
            self.published += count
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
