"""The one runtime that follows the event log for every follower: the projector, the live
pusher, the notification policy and the cascade relay.

A follower keeps only what is its own: where it starts (its checkpoint), ``handle(batch)``, and
the position up to which it is done. The runtime subscribes from that position, hands over the
batches in order, and on any failure records it, backs off (doubling, with jitter where asked)
and subscribes again from the follower's position; ``stop`` cancels and lets the follower save.
Its ``status`` (position, lag to the head, failures, last error) feeds ``/ready`` and
``/metrics``.

A pipelined follower (the relay: publishes now, is done later, when the broker confirms) also
has ``watch``, which runs beside the subscription for the whole session: when it raises, the
session ends just as if ``handle`` had raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import msgspec

from domain.store import EventStore, RecordedEvent

log = logging.getLogger("im.follower")


class Follower(Protocol):
    """What follows the event log."""

    @property
    def name(self) -> str: ...

    @property
    def position(self) -> int:
        """Every event up to here is done; a new subscription starts after it."""
        ...

    async def start_at(self) -> int:
        """Load the checkpoint once, at start (its errors reach the caller); the position."""
        ...

    async def resume(self) -> None:
        """Get ready before each subscription after the first (reload, reconnect)."""
        ...

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        """Process one batch (in position order); raising ends the subscription."""
        ...

    async def settle(self) -> None:
        """After each subscription (failed or stopped): drop what is in flight, save the rest."""
        ...


@runtime_checkable
class Pipelined(Protocol):
    """A follower that finishes batches after ``handle`` returned (see the module doc)."""

    async def prepare_session(self) -> None:
        """Before every subscription, the first included (e.g. wait for the broker)."""
        ...

    async def watch(self) -> None:
        """Runs beside the subscription; raising ends the session."""
        ...


@runtime_checkable
class Rewindable(Protocol):
    """A follower whose saved position can be moved back to the event store's head."""

    async def rewind(self, position: int) -> None: ...


class FollowerStatus(msgspec.Struct):
    name: str
    position: int
    failures: int
    error: str | None
    running: bool


class FollowerRuntime:
    """Drives one follower from the event log (see the module doc)."""

    def __init__(
        self,
        events: EventStore,
        follower: Follower,
        *,
        backoff: tuple[float, float] = (0.05, 5.0),
        jitter: bool = False,
        log_tracebacks: bool = True,
    ) -> None:
        self._events = events
        self.follower = follower
        self._backoff = backoff
        self._jitter = jitter
        self._tracebacks = log_tracebacks
        self._task: asyncio.Task[None] | None = None
        self.failures = 0
        self._error: BaseException | None = None
        self._error_at = 0

    @property
    def name(self) -> str:
        return self.follower.name

    @property
    def error(self) -> BaseException | None:
        """The last failure, until the follower gets past the position where it happened."""
        if self._error is not None and self.follower.position > self._error_at:
            self._error = None
        return self._error

    @property
    def running(self) -> bool:
        return self._task is not None

    def status(self) -> FollowerStatus:
        error = self.error
        return FollowerStatus(
            name=self.follower.name,
            position=self.follower.position,
            failures=self.failures,
            error=None if error is None else f"{type(error).__name__}: {error}",
            running=self.running,
        )

    async def start(self) -> None:
        await self.follower.start_at()
        if isinstance(self.follower, Rewindable):
            head = await self._events.head()
            if self.follower.position > head:
                log.warning(
                    "%s is at position %d but the event store ends at %d (the log lost its"
                    " tail, or an older copy was restored); continuing from the head",
                    self.follower.name,
                    self.follower.position,
                    head,
                )
                await self.follower.rewind(head)
        self._task = asyncio.create_task(self._run(), name=self.follower.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self._backoff[0]
        first = True
        while True:
            before = self.follower.position
            try:
                if not first:
                    await self.follower.resume()
                first = False
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a backend hiccup: report, back off, resume from position
                self.failures += 1
                self._error, self._error_at = exc, self.follower.position
                if self.follower.position > before:  # progress since the last failure
                    delay = self._backoff[0]
                wait = delay * (0.5 + random.random() / 2) if self._jitter else delay
                if self._tracebacks:
                    log.exception("%s failed; retrying in %.2fs", self.follower.name, wait)
                else:
                    log.warning(
                        "%s: %s: %s; retrying from %d in %.2fs",
                        self.follower.name,
                        type(exc).__name__,
                        exc,
                        self.follower.position,
                        wait,
                    )
                await asyncio.sleep(wait)
                delay = min(delay * 2, self._backoff[1])

    async def _session(self) -> None:
        follower = self.follower
        try:
            if isinstance(follower, Pipelined):
                await follower.prepare_session()
                try:
                    async with asyncio.TaskGroup() as group:
                        group.create_task(self._follow())
                        group.create_task(follower.watch())
                except BaseExceptionGroup as eg:
                    raise eg.exceptions[0] from None
            else:
                await self._follow()
        finally:
            await self._settle()

    async def _settle(self) -> None:
        try:
            await self.follower.settle()
        except Exception:  # the store may be closing; what was not saved is re-read next time
            log.warning("%s: could not settle", self.follower.name, exc_info=True)

    async def _follow(self) -> None:
        subscription = self._events.subscribe(self.follower.position)
        try:
            async for batch in subscription:
                await self.follower.handle(batch)
        finally:
            aclose = getattr(subscription, "aclose", None)
            if aclose is not None:
                await aclose()
