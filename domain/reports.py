"""Reported events (``/events``): check-ins, alarms and custom reports from users' devices.

Named "reports" in code because ``Event`` is the domain-event base class. Stream
``report-{id}``: one ``EventReported`` each; reports are facts and never change.
"""

from __future__ import annotations

from typing import Literal

from domain.errors import InvalidError
from domain.events import Event

ReportType = Literal["check_in", "alarm", "custom"]
REPORT_TYPES: tuple[ReportType, ...] = ("check_in", "alarm", "custom")
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
    event_type: str,
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
    if event_type not in REPORT_TYPES:
        raise InvalidError(f"event_type must be one of {', '.join(REPORT_TYPES)}")
    if not title.strip() or len(title) > MAX_TITLE:
        raise InvalidError(f"title must be 1-{MAX_TITLE} characters")
    if len(body) > MAX_BODY:
        raise InvalidError(f"body must be at most {MAX_BODY} characters")
    if not 1 <= level <= 3:
        raise InvalidError("level must be 1, 2 or 3")
    if (latitude is None) != (longitude is None):
        raise InvalidError("latitude and longitude must be given together")
    if latitude is not None and not -90 <= latitude <= 90:
        raise InvalidError("latitude must be between -90 and 90")
    if longitude is not None and not -180 <= longitude <= 180:
        raise InvalidError("longitude must be between -180 and 180")
    if address is not None and len(address) > MAX_ADDRESS:
        raise InvalidError(f"address must be at most {MAX_ADDRESS} characters")
    files = list(dict.fromkeys(attachments))
    if len(files) > MAX_ATTACHMENTS:
        raise InvalidError(f"at most {MAX_ATTACHMENTS} attachments")
    return EventReported(
        report_id=report_id,
        reporter_id=reporter_id,
        event_type=event_type,  # type: ignore[arg-type]
        title=title,
        body=body,
        level=level,
        latitude=latitude,
        longitude=longitude,
        address=address,
        attachments=files,
        occurred_at=at if occurred_at is None else occurred_at,
        at=at,
    )
