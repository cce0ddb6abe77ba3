"""Report views (``/events``): a user's own reports, or everyone's for a superuser."""

from __future__ import annotations

from typing import Any

import msgspec

from projections.schema import REPORTS, ReportDoc
from projections.store import ReadStore
from queries.views import iso


class ReportView(msgspec.Struct):
    """The contract's ``Event``."""

    id: int
    reporter_id: int
    event_type: str
    title: str
    body: str
    level: int
    latitude: float | None
    longitude: float | None
    address: str | None
    attachments: list[str]
    occurred_at: str
    created_at: str


def report_view(doc: ReportDoc) -> ReportView:
    return ReportView(
        id=doc.id,
        reporter_id=doc.reporter_id,
        event_type=doc.event_type,
        title=doc.title,
        body=doc.body,
        level=doc.level,
        latitude=doc.latitude,
        longitude=doc.longitude,
        address=doc.address,
        attachments=list(doc.attachments),
        occurred_at=iso(doc.occurred_at) or "",
        created_at=iso(doc.created_at) or "",
    )


async def list_reports(
    read: ReadStore,
    *,
    reporter_id: int | None,
    event_type: str | None,
    since: float | None,
    until: float | None,
    skip: int,
    limit: int,
) -> list[ReportView]:
    """Reports matching the filters, most recent ``occurred_at`` first."""
    where: dict[str, Any] = {}
    if reporter_id is not None:
        where["reporter_id"] = reporter_id
    if event_type is not None:
        where["event_type"] = event_type
    when: dict[str, float] = {}
    if since is not None:
        when["$gte"] = since
    if until is not None:
        when["$lte"] = until
    if when:
        where["occurred_at"] = when
    order = [("occurred_at", -1), ("id", -1)]
    docs = await read.find(REPORTS, where or None, order=order, skip=skip, limit=limit)
    return [report_view(d) for d in docs]
