"""The audit side of the event log: the ``EventLog`` port auditors read through, the event that
records every audit read, and the ``AuditEvent`` line format shared by the API, the CLI and
``im export`` / ``im import``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import msgspec

from domain.store import RecordedEvent


class StreamInfo(msgspec.Struct):
    stream: str
    category: str
    version: int
    first_position: int
    last_position: int
    last_recorded_at: float


class Scan(msgspec.Struct, frozen=True):
    """Filters over the global log; every field narrows, None means any."""

    after_position: int = 0
    until_position: int | None = None
    since: float | None = None
    until: float | None = None
    types: tuple[str, ...] = ()
    category: str | None = None
    actor_id: str | None = None  # compared as text: user ids and partner names alike
    correlation_id: str | None = None


class EventLog(Protocol):
    """Read-only access to the whole log for auditors, plus a raw load for ``im import``.

    ``scan`` returns up to ``limit`` events matching the filters in position order, and the
    position up to which the log was examined (continue after it; None when the end was reached).
    ``import_events`` appends recorded events as they are (ids, streams, versions, metadata with
    their hashes) to a store that holds none of them.
    """

    async def streams(
        self, category: str | None, prefix: str | None, skip: int, limit: int
    ) -> list[StreamInfo]: ...

    async def stream_page(
        self, stream: str, from_version: int, limit: int, until_position: int | None = None
    ) -> list[RecordedEvent]: ...

    async def last_before(self, stream: str, position: int) -> RecordedEvent | None: ...

    async def scan(self, scan: Scan, limit: int) -> tuple[list[RecordedEvent], int | None]: ...

    async def position_at(self, at: float) -> int:
        """The position of the last event recorded at or before ``at`` (0: none)."""
        ...

    async def head(self) -> int: ...

    async def is_empty(self) -> bool: ...

    async def import_events(self, events: Sequence[RecordedEvent]) -> None: ...

    async def close(self) -> None: ...


# -- the AuditEvent line ---------------------------------------------------------------------

_STORED_KEYS = (
    (b'"$correlationId":', b'"correlation_id":'),
    (b'"$causationId":', b'"causation_id":'),
)


class _Head(msgspec.Struct):
    position: int
    stream: str
    version: int
    id: str
    type: str


_head_encoder = msgspec.json.Encoder()


_second: list[tuple[int, str]] = [(-1, "")]


def iso(ts: float) -> str:
    """``2026-11-25T18:34:10.123Z`` (the whole second formatted once, then reused)."""
    whole, ms = divmod(round(ts * 1000), 1000)  # rounded: parsing it back gives it again
    sec, text = _second[0]
    if whole != sec:
        text = dt.datetime.fromtimestamp(whole, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second[0] = (whole, text)
    return f"{text}.{ms:03d}Z"


def audit_metadata(stored: bytes) -> bytes:
    """Stored metadata as the contract shows it (``$correlationId`` -> ``correlation_id``).

    Exact and reversible: in our compact JSON a quoted name followed by ``:`` is always a key.
    """
    if not stored:
        return b"{}"
    for ours, theirs in _STORED_KEYS:
        stored = stored.replace(ours, theirs)
    return stored


def stored_metadata(shown: bytes) -> bytes:
    for ours, theirs in _STORED_KEYS:
        shown = shown.replace(theirs, ours)
    return b"" if shown == b"{}" else shown


def audit_line(rec: RecordedEvent) -> bytes:
    """One ``AuditEvent`` as JSON (no newline), built from the stored bytes without re-encoding."""
    head = _head_encoder.encode(_Head(rec.position, rec.stream, rec.version, rec.id, rec.type))
    return b"".join(
        (
            head[:-1],
            b',"data":',
            rec.data or b"null",
            b',"recorded_at":"',
            iso(rec.recorded_at).encode(),
            b'","metadata":',
            audit_metadata(rec.metadata),
            b"}",
        )
    )


class AuditActor(msgspec.Struct):
    kind: str
    id: int | str


class AuditMetadata(msgspec.Struct):
    schema_version: int | None = None
    actor: AuditActor | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    hash: str | None = None
    prev_hash: str | None = None


class AuditEvent(msgspec.Struct):
    """The documented shape of one line (for OpenAPI and for reading lines back)."""

    position: int
    stream: str
    version: int
    id: str
    type: str
    data: msgspec.Raw
    recorded_at: str
    metadata: msgspec.Raw


_line_decoder = msgspec.json.Decoder(AuditEvent)


def parse_line(line: bytes) -> RecordedEvent:
    """An ``AuditEvent`` line back to the event as stored (metadata byte for byte)."""
    ev = _line_decoder.decode(line)
    at = dt.datetime.fromisoformat(ev.recorded_at.replace("Z", "+00:00")).timestamp()
    return RecordedEvent(
        id=ev.id,
        stream=ev.stream,
        version=ev.version,
        position=ev.position,
        type=ev.type,
        data=b"" if bytes(ev.data) == b"null" else bytes(ev.data),
        metadata=stored_metadata(bytes(ev.metadata)),
        recorded_at=at,
    )
