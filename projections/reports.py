"""The reports read model: one document per ``/events`` report, by reporter, type and time."""

from __future__ import annotations

from domain import reports as r
from domain.events import Event
from domain.store import RecordedEvent
from projections.store import Collection, Index, Op, Put

REPORTS = "reports"


class ReportsProjection:
    name = "reports"
    collections: tuple[Collection, ...] = (
        Collection(
            REPORTS,
            indexes=(
                Index(("reporter_id", "occurred_at")),
                Index(("event_type", "occurred_at")),
                Index(("occurred_at",)),
            ),
        ),
    )

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        match event:
            case r.EventReported():
                doc = {
                    "id": event.report_id,
                    "reporter_id": event.reporter_id,
                    "event_type": event.event_type,
                    "title": event.title,
                    "body": event.body,
                    "level": event.level,
                    "latitude": event.latitude,
                    "longitude": event.longitude,
                    "address": event.address,
                    "attachments": list(event.attachments),
                    "occurred_at": event.occurred_at,
                    "created_at": event.at,
                }
                return [Put(REPORTS, str(event.report_id), doc)]
        return []
