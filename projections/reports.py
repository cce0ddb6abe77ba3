"""The reports read model: one document per ``/events`` report, by reporter, type and time."""

from __future__ import annotations

from typing import Any, assert_never

from domain import reports as r
from domain.events import Event, type_names
from domain.store import RecordedEvent
from projections.schema import REPORTS, ReportDoc
from projections.store import Collection, Op


class ReportsProjection:
    name = "reports"
    collections: tuple[Collection[Any], ...] = (REPORTS,)
    # The only events handle acts on: the projector skips the others without calling it.
    handles = type_names(r.ReportEvent)

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        if not isinstance(event, r.ReportEvent):
            return []
        match event:
            case r.EventReported():
                doc = ReportDoc(
                    id=event.report_id,
                    reporter_id=event.reporter_id,
                    event_type=event.event_type,
                    title=event.title,
                    body=event.body,
                    level=event.level,
                    latitude=event.latitude,
                    longitude=event.longitude,
                    address=event.address,
                    attachments=list(event.attachments),
                    occurred_at=event.occurred_at,
                    created_at=event.at,
                )
                return [REPORTS.put(str(event.report_id), doc)]
            case _:
                assert_never(event)
