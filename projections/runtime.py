"""The projector: applies each event once to every read model, from each one's checkpoint.

It is a follower (``projections.follower``): the runtime there subscribes, retries and stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from domain import codec
from domain.events import Event
from domain.store import EventStore, RecordedEvent
from projections.store import (
    BulkLoader,
    Collection,
    Guarded,
    Op,
    ProjectionBatch,
    ReadStore,
)

log = logging.getLogger("im.projector")

REBUILD_BATCH = 5000
"""Events per transaction in a rebuild (the live projector writes what each read returns)."""


class Projection(Protocol):
    """A read model: its collections and a pure function from one event to read-store ops.

    A projection may also have ``handles``, the stored type names of the only events its
    ``handle`` can return ops for; the projector then skips the other events without calling it.
    """

    name: str
    collections: tuple[Collection[Any], ...]

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]: ...


class Projector:
    """Runs a set of projections from one subscription; each keeps its own checkpoint."""

    name = "projector"

    def __init__(
        self, events: EventStore, read: ReadStore, projections: Sequence[Projection]
    ) -> None:
        self._events = events
        self._read = read
        self._projections = list(projections)
        self._handles: dict[str, frozenset[str] | None] = {
            p.name: getattr(p, "handles", None) for p in self._projections
        }
        self._routes: dict[str, tuple[int, ...]] = {}  # stored type -> projections handling it
        self._checkpoints: dict[str, int] = {}
        self._position = 0
        self._cond = asyncio.Condition()
        self.on_batch: Callable[[int, int], None] | None = None  # (events, position) progress
        # Called with each applied batch, after the read models include it (cache eviction, ...).
        self.listeners: list[Callable[[Sequence[RecordedEvent]], None]] = []

    @property
    def position(self) -> int:
        return self._position

    async def prepare(self) -> None:
        collections = [c for p in self._projections for c in p.collections]
        await self._read.declare(collections)
        for p in self._projections:
            self._checkpoints[p.name] = await self._read.checkpoint(p.name)
        self._position = min(self._checkpoints.values(), default=0)

    async def reset(self) -> None:
        for p in self._projections:
            await self._read.reset(p.name, [c.name for c in p.collections])
            self._checkpoints[p.name] = 0
        self._position = 0

    async def repair(self) -> list[str]:
        """Rebuild every projection whose checkpoint is beyond the event store's head.

        That happens when the log lost its tail (a power cut with ``synchronous=NORMAL``, or a
        restored older copy of the event store) while the read models kept it: they show events
        that no longer exist, and the positions after the head will be given to new events,
        which the projection would skip. Returns the names of the projections rebuilt.
        """
        head = await self._events.head()
        ahead = [p for p in self._projections if self._checkpoints.get(p.name, 0) > head]
        for p in ahead:
            log.warning(
                "projection %s is at position %d but the event store ends at %d (the log lost"
                " its tail, or an older copy was restored); rebuilding it from the log",
                p.name,
                self._checkpoints[p.name],
                head,
            )
            await self._read.reset(p.name, [c.name for c in p.collections])
            self._checkpoints[p.name] = 0
        if ahead:
            self._position = min(self._checkpoints.values(), default=0)
        return [p.name for p in ahead]

    # -- as a follower -----------------------------------------------------------------------
    async def start_at(self) -> int:
        await self.prepare()
        await self.repair()
        return self._position

    async def resume(self) -> None:
        await self.prepare()  # after a backend hiccup, from what the read store committed

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        await self.apply(batch)

    async def settle(self) -> None:
        return None  # every checkpoint moves with its batch's documents

    def _route(self, type_name: str) -> tuple[int, ...] | None:
        """The indexes of the projections that handle events of this stored type; None for a
        type the codec does not know."""
        route = self._routes.get(type_name)
        if route is None:
            if not codec.knows(type_name):
                return None  # not cached: a test may register its class later
            route = self._routes[type_name] = tuple(
                i
                for i, p in enumerate(self._projections)
                if (h := self._handles[p.name]) is None or type_name in h
            )
        return route

    async def apply(self, batch: Sequence[RecordedEvent]) -> None:
        """Apply a batch of recorded events (in position order) to every projection behind it."""
        await self._commit(batch, self._project(batch))

    def _project(self, batch: Sequence[RecordedEvent]) -> list[ProjectionBatch]:
        """What every projection behind ``batch`` wants written for it (nothing written yet)."""
        last = batch[-1].position
        projections = self._projections
        cps = [self._checkpoints.get(p.name, 0) for p in projections]
        ops: list[list[Guarded]] = [[] for _ in projections]
        for rec in batch:
            route = self._route(rec.type)
            if route is None:
                log.warning("skipping unknown event type %s at %d", rec.type, rec.position)
                continue
            if not route:  # no projection acts on this type: not even decoded
                continue
            event = rec.decode()
            position = rec.position
            base = position * 1024
            for i in route:
                if position <= cps[i]:
                    continue
                out_ops = ops[i]
                for k, op in enumerate(projections[i].handle(event, rec)):
                    out_ops.append(Guarded(base + k, op))
        out = [
            ProjectionBatch(p.name, last, ops[i])
            for i, p in enumerate(projections)
            if cps[i] < last
        ]
        return out

    async def _commit(self, batch: Sequence[RecordedEvent], out: list[ProjectionBatch]) -> None:
        """Write ``_project(batch)`` (ops and checkpoints in one go), then move on past it."""
        last = batch[-1].position
        if out:
            await self._read.apply(out)
        for b in out:
            self._checkpoints[b.projection] = last
        async with self._cond:
            self._position = last
            self._cond.notify_all()
        for listener in self.listeners:
            listener(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch), last)

    async def rebuild(self) -> int:
        """Replay every event into emptied read models; returns how many events were applied.

        Events are read ahead and written ``REBUILD_BATCH`` at a time, each batch projected while
        the one before is being written; a read store that can defer its secondary indexes
        (``BulkLoader``) builds them once at the end.
        """
        await self.prepare()
        head = await self._events.head()
        collections = [c for p in self._projections for c in p.collections]
        bulk = self._read if isinstance(self._read, BulkLoader) else None
        if bulk is not None:  # before the reset, so emptying skips index upkeep too
            await bulk.begin_bulk(collections)
        await self.reset()
        queue: asyncio.Queue[list[RecordedEvent] | None] = asyncio.Queue(maxsize=2)

        async def read_ahead() -> None:
            chunk: list[RecordedEvent] = []  # the subscription's batches, joined up
            if head:
                async for batch in self._events.subscribe(0):
                    chunk.extend(batch)
                    done = batch[-1].position >= head
                    if len(chunk) >= REBUILD_BATCH or done:
                        await queue.put(chunk)
                        chunk = []
                    if done:
                        break
            await queue.put(None)

        reader = asyncio.create_task(read_ahead())
        applied = 0
        # Batch n + 1 is projected here while batch n is written on the read store's thread.
        # Its projection reads no document, and a checkpoint seen before batch n moved it is
        # below batch n + 1 either way; batch n + 1 is written only once batch n is.
        writing: asyncio.Task[None] | None = None
        try:
            while (batch := await queue.get()) is not None:
                out = self._project(batch)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(self._commit(batch, out))
                applied += len(batch)
            if writing is not None:
                await writing
        finally:
            reader.cancel()
            if writing is not None:
                writing.cancel()
        if bulk is not None:
            await bulk.end_bulk(collections)
        return applied

    async def wait_for(self, position: int, timeout: float) -> bool:
        """Wait until every projection has applied ``position``; False on timeout."""
        if self._position >= position:
            return True
        try:
            async with asyncio.timeout(timeout):
                async with self._cond:
                    await self._cond.wait_for(lambda: self._position >= position)
        except TimeoutError:
            return False
        return True
