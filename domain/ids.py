"""Id allocation through events: blocks of small integer ids reserved on a counter stream."""

from __future__ import annotations

import re

import msgspec

from domain.events import Event

MAX_SAFE_ID = 2**53 - 1
_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,15}", re.ASCII)


def canonical_id(text: str) -> int | None:
    """The id written the one canonical way (ASCII digits, no sign, no leading zero), else None.

    ``int()`` and ``str.isdigit()`` also take "0002", " 2", "٢" or fullwidth digits: several
    spellings of one id, which is how a token or a cache key gets a second identity.
    """
    if not _CANONICAL_INT.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_SAFE_ID else None


class IdBlockReserved(Event, frozen=True, tag="IdBlockReserved"):
    """Ids ``start`` .. ``start + size - 1`` of ``kind`` belong to whoever appended this."""

    kind: str
    start: int
    size: int


IdEvent = IdBlockReserved


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
