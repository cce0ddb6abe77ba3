"""``Idempotency-Key`` records: one stream per (caller, key), in the event store, so every
command process of a split deployment sees the same record (the contract's Conventions)."""

from __future__ import annotations

import hashlib

from domain.events import Event

TTL_S = 24 * 3600.0  # a key answers with its first response for this long
ABANDONED_S = 60.0  # a claim with no answer after this was left by a crashed process


class IdempotencyClaimed(Event, frozen=True, tag="IdempotencyClaimed"):
    """A request with this key is being processed (its body's fingerprint)."""

    fingerprint: str
    at: float


class IdempotentResponse(Event, frozen=True, tag="IdempotentResponse"):
    """The first answer, replayed to every repeat of the key."""

    fingerprint: str
    status: int
    body: bytes
    media_type: str
    position: int | None
    at: float


class IdempotencyReleased(Event, frozen=True, tag="IdempotencyReleased"):
    """The request failed without an answer worth keeping: a repeat runs again."""

    at: float


Record = IdempotencyClaimed | IdempotentResponse | IdempotencyReleased
IdempotencyEvent = Record


def idempotency_stream(caller: str, key: str) -> str:
    digest = hashlib.sha256(f"{caller}\0{key}".encode()).hexdigest()[:40]
    return f"idem-{digest}"


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()
