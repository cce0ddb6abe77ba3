"""Report commands (``/events``): record a user's check-in, alarm or custom report."""

from __future__ import annotations

import time

import msgspec

from commands.core import IdAllocator, append
from domain import reports as r
from domain.store import NO_STREAM, EventStore


class ReportEvent(msgspec.Struct, frozen=True, kw_only=True):
    reporter_id: int
    event_type: r.ReportType
    title: str
    body: str = ""
    level: int = 1
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    attachments: list[str] = []
    occurred_at: float | None = None


class ReportHandlers:
    def __init__(self, store: EventStore, ids: IdAllocator) -> None:
        self._store = store
        self._ids = ids

    async def report(self, cmd: ReportEvent) -> tuple[r.EventReported, int]:
        """Validate and record; returns (the event, its position)."""
        fields = msgspec.structs.asdict(cmd)
        event = r.decide_report(report_id=0, at=time.time(), **fields)
        report_id = await self._ids.next("report")
        event = msgspec.structs.replace(event, report_id=report_id)
        position = await append(self._store, r.report_stream(report_id), [event], NO_STREAM)
        return event, position
