"""The ``Idempotency-Key`` header on creating POSTs (the contract's Conventions).

The same key from the same caller within 24 h returns the first answer (status and body) without
acting again; the same key with a different request (method, path, query, body) → 422; a repeat
while the first is still running → 409. The record is a small stream in the event store
(``domain.idempotency``), claimed with "no stream yet" / the expected version, so concurrent
requests on several command processes agree on which one acts.
"""

from __future__ import annotations

import contextlib
import time

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import ConcurrencyError, ConflictError, InvalidError
from domain.idempotency import (
    ABANDONED_S,
    TTL_S,
    IdempotencyClaimed,
    IdempotencyReleased,
    IdempotentResponse,
    fingerprint,
    idempotency_stream,
)
from domain.store import EventStore, new_event

HEADER = "idempotency-key"
MAX_KEY = 255


class Claim(msgspec.Struct):
    """This request acts for the key; ``finish`` records its answer, ``release`` frees it."""

    stream: str
    version: int
    fingerprint: str


class Idempotency:
    def __init__(self, events: EventStore) -> None:
        self._events = events

    async def begin(self, request: Request, caller: str, body: bytes) -> Claim | Response | None:
        """None without the header; a Response to send as is (a repeat); else the Claim."""
        key = request.headers.get(HEADER)
        if key is None:
            return None
        if not 1 <= len(key) <= MAX_KEY or not key.isascii() or not key.isprintable():
            raise InvalidError(f"Idempotency-Key must be 1-{MAX_KEY} printable ASCII characters")
        stream = idempotency_stream(caller, key)
        fp = fingerprint(request.method, request.url.path, request.url.query, body)
        for _ in range(5):
            last = await self._events.last(stream)
            version = -1 if last is None else last.version
            if last is not None:
                record = last.decode()
                now = time.time()
                if isinstance(record, IdempotentResponse) and now - record.at < TTL_S:
                    return _replay(record, fp)
                if isinstance(record, IdempotencyClaimed) and now - record.at < ABANDONED_S:
                    if record.fingerprint != fp:
                        raise _mismatch()
                    raise ConflictError(
                        "A request with this Idempotency-Key is still being processed; retry"
                    )
            claimed = IdempotencyClaimed(fingerprint=fp, at=time.time())
            try:
                await self._events.append(stream, [new_event(claimed)], version)
            except ConcurrencyError:
                continue  # another request claimed it first: look again
            return Claim(stream, version + 1, fp)
        raise ConflictError("A request with this Idempotency-Key is still being processed; retry")

    async def finish(self, claim: Claim, response: Response) -> None:
        """Keep a definite answer (2xx/4xx); anything else frees the key for a retry."""
        if response.status_code >= 500 or not isinstance(response.body, bytes):
            await self.release(claim)
            return
        position = response.headers.get("x-event-position")
        record = IdempotentResponse(
            fingerprint=claim.fingerprint,
            status=response.status_code,
            body=response.body,
            media_type=response.headers.get("content-type", "application/json"),
            position=int(position) if position else None,
            at=time.time(),
        )
        await self._events.append(claim.stream, [new_event(record)], claim.version)

    async def release(self, claim: Claim) -> None:
        released = IdempotencyReleased(at=time.time())
        # Taken over as abandoned meanwhile (ConcurrencyError): nothing of ours to free.
        with contextlib.suppress(ConcurrencyError):
            await self._events.append(claim.stream, [new_event(released)], claim.version)


def _mismatch() -> HTTPException:
    return HTTPException(422, "This Idempotency-Key was used with a different request")


def _replay(record: IdempotentResponse, fp: str) -> Response:
    if record.fingerprint != fp:
        raise _mismatch()
    headers = {"Idempotent-Replayed": "true"}
    if record.position is not None:
        headers["X-Event-Position"] = str(record.position)
    return Response(record.body, record.status, headers, media_type=record.media_type)
