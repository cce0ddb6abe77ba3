"""``/events``: users report check-ins, alarms and custom events; alarms notify superusers."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec
from msgspec import Meta

from commands.reports import ReportEvent, ReportHandlers
from domain import reports as r
from domain.errors import ForbiddenError
from gateway.dates import epoch
from gateway.http import Api, Ctx, coordinate
from gateway.routes.broadcasts import FileId, check_attachments
from gateway.schemas import Id, Limit200, Skip
from projections.store import ReadStore
from queries import reports as q
from queries.views import iso

api = Api("/api/v1/events", tag="events")


class EventCreate(msgspec.Struct, forbid_unknown_fields=False):
    event_type: r.ReportType
    title: Annotated[str, Meta(min_length=1, max_length=r.MAX_TITLE)]
    body: Annotated[str, Meta(max_length=r.MAX_BODY)] = ""
    level: Annotated[int, Meta(ge=1, le=3)] = 1
    latitude: float | str | None = None  # numbers or numeric strings, as for locations
    longitude: float | str | None = None
    address: Annotated[str, Meta(max_length=r.MAX_ADDRESS)] | None = None
    attachments: Annotated[list[FileId], Meta(max_length=r.MAX_ATTACHMENTS)] = []
    occurred_at: dt.datetime | None = None


class EventQuery(msgspec.Struct):
    event_type: r.ReportType | None = None
    reporter_id: Id | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    skip: Skip = 0
    limit: Limit200 = 50


@api.post("/", body=EventCreate, response=q.ReportView, status=201)
async def report(ctx: Ctx, reports: ReportHandlers, read: ReadStore) -> q.ReportView:
    """Report an event; an alarm notifies every superuser."""
    body: EventCreate = ctx.body
    latitude = None if body.latitude is None else coordinate(body.latitude, "latitude", 90)
    longitude = None if body.longitude is None else coordinate(body.longitude, "longitude", 180)
    attachments = await check_attachments(ctx, body.attachments, read=read)
    cmd = ReportEvent(
        reporter_id=ctx.me.id,
        event_type=body.event_type,
        title=body.title,
        body=body.body,
        level=body.level,
        latitude=latitude,
        longitude=longitude,
        address=body.address,
        attachments=attachments,
        occurred_at=epoch(body.occurred_at, "occurred_at"),
    )
    event, ctx.position = await reports.report(cmd)
    return q.ReportView(
        id=event.report_id,
        reporter_id=event.reporter_id,
        event_type=event.event_type,
        title=event.title,
        body=event.body,
        level=event.level,
        latitude=event.latitude,
        longitude=event.longitude,
        address=event.address,
        attachments=event.attachments,
        occurred_at=iso(event.occurred_at) or "",
        created_at=iso(event.at) or "",
    )


@api.get("/", query=EventQuery, response=list[q.ReportView])
async def list_events(ctx: Ctx, read: ReadStore) -> list[q.ReportView]:
    """The caller's reported events, latest first (superusers: everyone's)."""
    qry: EventQuery = ctx.query
    reporter = qry.reporter_id
    if not ctx.me.is_superuser:
        if reporter is not None and reporter != ctx.me.id:
            raise ForbiddenError("Only superusers can list other users' events")
        reporter = ctx.me.id
    return await q.list_reports(
        read,
        reporter_id=reporter,
        event_type=qry.event_type,
        since=epoch(qry.since, "since"),
        until=epoch(qry.until, "until"),
        skip=qry.skip,
        limit=qry.limit,
    )
