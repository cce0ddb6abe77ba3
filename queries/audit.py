"""Audit reads over the event log: streams, events, export, verify, a user's activity.

Everything reads the event store through the ``EventLog`` port, never a read model: the log is
the record. Pages go by version (one stream) or position (the whole log).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import msgspec

from domain.audit import EventLog, Scan, StreamInfo, audit_line, iso
from domain.chain import Break, ChainState
from domain.store import RecordedEvent

_EXPORT_PAGE = 5000
_VERIFY_PAGE = 10_000
Progress = Callable[[int, int], None]  # (events so far, position reached)


class StreamView(msgspec.Struct):
    stream: str
    category: str
    version: int
    first_position: int
    last_position: int
    last_recorded_at: str


class ChainBreak(msgspec.Struct):
    stream: str
    version: int
    position: int
    reason: str
    id: str = ""


class ChainHead(msgspec.Struct):
    position: int
    digest: str


class Verification(msgspec.Struct):
    checked: int
    ok: bool
    first_break: ChainBreak | None
    head: ChainHead
    unchained: int = 0


def json_array(recs: list[RecordedEvent]) -> bytes:
    """``[AuditEvent, ...]`` from stored bytes (no decode and re-encode of data)."""
    return b"[" + b",".join(audit_line(r) for r in recs) + b"]"


def events_page(recs: list[RecordedEvent], next_position: int | None) -> bytes:
    tail = b"null" if next_position is None else str(next_position).encode()
    return b'{"events":' + json_array(recs) + b',"next_position":' + tail + b"}"


async def streams(
    log: EventLog, category: str | None, prefix: str | None, skip: int, limit: int
) -> list[StreamView]:
    found: list[StreamInfo] = await log.streams(category, prefix, skip, limit)
    return [
        StreamView(
            s.stream,
            s.category,
            s.version,
            s.first_position,
            s.last_position,
            iso(s.last_recorded_at),
        )
        for s in found
    ]


async def export(
    log: EventLog, scan: Scan, progress: Progress | None = None
) -> AsyncIterator[bytes]:
    """NDJSON chunks of every matching event, one page (plus the next, read ahead) in memory."""
    done = 0
    ahead = asyncio.ensure_future(log.scan(scan, _EXPORT_PAGE))
    try:
        while True:
            recs, more = await ahead
            if more is not None:
                scan = msgspec.structs.replace(scan, after_position=more)
                ahead = asyncio.ensure_future(log.scan(scan, _EXPORT_PAGE))
            if recs:
                done += len(recs)
                yield b"\n".join([audit_line(r) for r in recs]) + b"\n"
                if progress is not None:
                    progress(done, recs[-1].position)
            if more is None:
                return
    finally:
        ahead.cancel()


async def _pages(log: EventLog, stream: str | None) -> AsyncIterator[list[RecordedEvent]]:
    """The whole log by position, or one stream by version, with the next page read ahead."""

    async def page(after: int, version: int) -> tuple[list[RecordedEvent], bool]:
        if stream is None:
            recs, more = await log.scan(Scan(after_position=after), _VERIFY_PAGE)
            return recs, more is not None
        recs = await log.stream_page(stream, version, _VERIFY_PAGE)
        return recs, len(recs) == _VERIFY_PAGE

    ahead = asyncio.ensure_future(page(0, 0))
    try:
        while True:
            recs, more = await ahead
            if more and recs:
                ahead = asyncio.ensure_future(page(recs[-1].position, recs[-1].version + 1))
            if recs:
                yield recs
            if not more or not recs:
                return
    finally:
        ahead.cancel()


async def verify(
    log: EventLog, stream: str | None = None, progress: Progress | None = None
) -> Verification:
    """Walk one stream (by version) or the whole log (by position) and check every link."""
    chain = ChainState()
    last: RecordedEvent | None = None
    async for recs in _pages(log, stream):
        check = chain.check
        for rec in recs:
            try:
                check(rec.stream, rec.type, rec.data, rec.metadata)
            except Break as exc:
                where = ChainBreak(rec.stream, rec.version, rec.position, exc.reason, rec.id)
                return _result(chain, last, where)
        last = recs[-1]
        if progress is not None:
            progress(chain.checked, last.position)
    return _result(chain, last, None)


def _result(
    chain: ChainState, last: RecordedEvent | None, broken: ChainBreak | None
) -> Verification:
    return Verification(
        checked=chain.checked,
        ok=broken is None,
        first_break=broken,
        head=ChainHead(position=last.position if last else 0, digest=chain.log.hexdigest()),
        unchained=chain.unchained,
    )
