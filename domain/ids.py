"""Id allocation through events: blocks of small integer ids reserved on a counter stream."""

from __future__ import annotations

import msgspec

from domain.events import Event

MAX_SAFE_ID = 2**53 - 1


class IdBlockReserved(Event, frozen=True, tag="IdBlockReserved"):
    """Ids ``start`` .. ``start + size - 1`` of ``kind`` belong to whoever appended this."""

    kind: str
    start: int
    size: int


class IdCounter(msgspec.Struct):
    next_start: int = 1


def counter_stream(kind: str) -> str:
    return f"ids-{kind}"


def evolve_counter(state: IdCounter, event: IdBlockReserved) -> IdCounter:
    return IdCounter(next_start=event.start + event.size)


def reserve_block(state: IdCounter, kind: str, size: int) -> IdBlockReserved:
    if state.next_start + size > MAX_SAFE_ID:
        raise OverflowError(f"id space of {kind} is exhausted")
    return IdBlockReserved(kind=kind, start=state.next_start, size=size)
