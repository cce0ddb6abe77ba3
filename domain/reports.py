"""Reported events (``/events``): check-ins, alarms and custom reports from users' devices.

Named "reports" in code because ``Event`` is the domain-event base class. Stream
``report-{id}``: one ``EventReported`` each; reports are facts and never change.
"""

from __future__ import annotations

from typing import Literal

from domain.errors import InvalidError
from domain.events import Event

ReportType = Literal["check_in", "alarm", "custom"]
MAX_TITLE = 200
MAX_BODY = 5000
MAX_ADDRESS = 500
MAX_ATTACHMENTS = 20


def report_stream(report_id: int) -> str:
    return f"report-{report_id}"


class EventReported(Event, frozen=True, tag="EventReported"):
    report_id: int
    reporter_id: int
    event_type: ReportType
    title: str
    body: str = ""
    level: int = 1
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    attachments: list[str] = []
    occurred_at: float = 0.0
    at: float = 0.0


ReportEvent = EventReported


def decide_report(
    *,
    report_id: int,
    reporter_id: int,
    event_type: ReportType,
    title: str,
    body: str,
    level: int,
    latitude: float | None,
    longitude: float | None,
    address: str | None,
    attachments: list[str],
    occurred_at: float | None,
    at: float,
) -> EventReported:
    """The report's rules: a title that is not blank, and coordinates both or neither. Types
    and limits (the type, lengths up to ``MAX_*``, level 1-3, coordinates in range) are the
    request schema's."""
    if not title.strip():
        raise InvalidError(f"title must be 1-{MAX_TITLE} characters")
    if (latitude is None) != (longitude is None):
        raise InvalidError("latitude and longitude must be given together")
    return EventReported(
        report_id=report_id,
        reporter_id=reporter_id,
        event_type=event_type,
        title=title,
        body=body,
        level=level,
        latitude=latitude,
        longitude=longitude,
        address=address,
        attachments=list(dict.fromkeys(attachments)),
        occurred_at=at if occurred_at is None else occurred_at,
        at=at,
    )
