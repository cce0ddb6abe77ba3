"""Shared command-side machinery: loading aggregates, appending, retrying, allocating ids."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import msgspec

from domain.errors import ConcurrencyError
from domain.events import Event
from domain.ids import IdBlockReserved, IdCounter, counter_stream, evolve_counter, reserve_block
from domain.store import NO_STREAM, EventStore, new_event

S = TypeVar("S")
T = TypeVar("T")
RETRIES = 5


def given(cmd: msgspec.Struct, *skip: str) -> dict[str, object]:
    """A partial-update command's fields that were given (not ``UNSET``), but for ``skip``."""
    return {
        f: v
        for f in cmd.__struct_fields__
        if f not in skip and (v := getattr(cmd, f)) is not msgspec.UNSET
    }


async def load(
    store: EventStore, stream: str, evolve: Callable[[S, Event], S], initial: S
) -> tuple[S, int]:
    """Fold a stream into state; returns (state, version of its last event or NO_STREAM)."""
    state, version = initial, NO_STREAM
    for rec in await store.read(stream):
        state = evolve(state, rec.decode())
        version = rec.version
    return state, version


async def append(
    store: EventStore, stream: str, events: Sequence[Event], expected_version: int | None
) -> int:
    return await store.append(stream, [new_event(e) for e in events], expected_version)


async def with_retry(attempt: Callable[[], Awaitable[T]], retries: int = RETRIES) -> T:
    """Run load-decide-append again when another writer won the race, a bounded number of times."""
    for i in range(retries):
        try:
            return await attempt()
        except ConcurrencyError:
            if i == retries - 1:
                raise
            # Jittered: writers that collided must not all come back at the same moment.
            await asyncio.sleep(random.uniform(0, 0.002 * (i + 1)))
    raise AssertionError("unreachable")


class IdAllocator:
    """Hands out small, JavaScript-safe integer ids from blocks reserved through events."""

    def __init__(self, store: EventStore, block_size: int = 100) -> None:
        self._store = store
        self._block = block_size
        self._free: dict[str, tuple[int, int]] = {}  # kind -> (next, end exclusive)
        self._locks: dict[str, asyncio.Lock] = {}
        self._known: dict[str, tuple[IdCounter, int]] = {}  # kind -> (state, version)

    async def next(self, kind: str) -> int:
        nxt, end = self._free.get(kind, (0, 0))
        if nxt >= end:
            lock = self._locks.setdefault(kind, asyncio.Lock())
            async with lock:
                nxt, end = self._free.get(kind, (0, 0))
                if nxt >= end:
                    # Every process starting at once reserves a block: a busy stream.
                    nxt, end = await with_retry(lambda: self._reserve(kind), 4 * RETRIES)
        self._free[kind] = (nxt + 1, end)
        return nxt

    async def _reserve(self, kind: str) -> tuple[int, int]:
        stream = counter_stream(kind)
        state, version = self._known.get(kind, (IdCounter(), NO_STREAM))
        # Read only the tail we have not seen: other processes' reservations since our last one.
        for rec in await self._store.read(stream, version + 1):
            ev = rec.decode()
            assert isinstance(ev, IdBlockReserved)
            state, version = evolve_counter(state, ev), rec.version
        self._known[kind] = (state, version)
        block = reserve_block(state, kind, self._block)
        await append(self._store, stream, [block], version)
        self._known[kind] = (evolve_counter(state, block), version + 1)
        return block.start, block.start + block.size
