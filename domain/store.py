"""The event-store port, shared by the command side, the projector, the pusher and the relay."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

import msgspec

from domain import codec
from domain.events import Event
from domain.tracing import Trace, current

NO_STREAM = -1
"""``expected_version`` meaning: the stream must not exist yet."""


class NewEvent(msgspec.Struct, frozen=True):
    """An event ready to append; its id is fixed before the first attempt (idempotent retries)."""

    id: str
    type: str
    data: bytes
    metadata: bytes = b""


class RecordedEvent(msgspec.Struct, frozen=True):
    """An event as stored: ``version`` counts from 0 within its stream; ``position`` is global."""

    id: str
    stream: str
    version: int
    position: int
    type: str
    data: bytes
    metadata: bytes
    recorded_at: float

    def decode(self) -> Event:
        return codec.decode_recorded(self.type, self.data, self.metadata)

    @property
    def category(self) -> str:
        return self.stream.partition("-")[0]


def event_id() -> str:
    """A UUIDv7 (RFC 9562): time-ordered, so id indexes grow at the end instead of randomly."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (ms & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | ((rand >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (rand & ((1 << 62) - 1))
    )
    return str(uuid.UUID(int=value))


def new_event(event: Event) -> NewEvent:
    """The event ready to append, attributed to the running request or reaction."""
    return traced_event(event, current())


def traced_event(event: Event, trace: Trace | None) -> NewEvent:
    """The event ready to append, attributed to ``trace`` (captured earlier by the caller)."""
    eid = event_id()
    type_name, data = codec.encode(event)
    return NewEvent(
        id=eid, type=type_name, data=data, metadata=codec.metadata_for(event, eid, trace)
    )


class EventStore(Protocol):
    """Append-only streams with a global order.

    ``append`` is atomic per call, checks ``expected_version`` (the version of the stream's last
    event, ``NO_STREAM`` for a new stream, ``None`` for any) and raises ``ConcurrencyError`` on a
    mismatch; it returns the global position of the last appended event. ``subscribe`` yields every
    event with a position greater than ``after_position`` in position order, catching up first and
    then following live, in non-empty batches, and never skips an event.
    """

    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> int: ...

    async def read(self, stream: str, from_version: int = 0) -> list[RecordedEvent]: ...

    async def last(self, stream: str) -> RecordedEvent | None:
        """The stream's last event (None for an empty stream), without reading the rest."""
        ...

    def subscribe(self, after_position: int = 0) -> AsyncIterator[list[RecordedEvent]]: ...

    async def head(self) -> int: ...

    async def events_after(self, position: int, limit: int) -> int:
        """How many events the store holds after ``position``, counting no further than ``limit``.

        Positions are opaque outside the adapters (KurrentDB's are log byte offsets), so every
        distance in events (the resume horizon, lag) is asked of the store, never subtracted.
        """
        ...

    async def close(self) -> None: ...
