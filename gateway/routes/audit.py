"""``/audit``: auditors read the event log (read-only; every request is itself recorded)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.responses import Response, StreamingResponse

from commands.core import append
from commands.users import UserHandlers
from domain.audit import AuditEvent, EventLog, Scan
from domain.audit_events import AuditRead, audit_stream
from domain.errors import ForbiddenError, InvalidError
from domain.store import EventStore
from gateway.http import Api, Ctx
from gateway.schemas import Skip
from projections.store import ReadStore
from projections.time_travel import TimeTravel
from queries import audit as q
from queries.audit_state import ConversationState, state_at

api = Api("/api/v1/audit", tag="audit")
Position = Annotated[int, Meta(ge=0, le=2**62)]
Version = Annotated[int, Meta(ge=0, le=2**62)]
Text = Annotated[str, Meta(max_length=200)]


class StreamsQuery(msgspec.Struct):
    category: Text | None = None
    prefix: Text | None = None
    skip: Skip = 0
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class StreamQuery(msgspec.Struct):
    from_version: Version = 0
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class EventsQuery(msgspec.Struct):
    after_position: Position = 0
    until_position: Position | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    types: Annotated[str, Meta(max_length=2000)] | None = None
    category: Text | None = None
    actor_id: Text | None = None
    correlation_id: Text | None = None
    limit: Annotated[int, Meta(ge=1, le=5000)] = 500


class StateQuery(msgspec.Struct):
    at: Text
    after_seq: Annotated[int, Meta(ge=0, le=2**53)] = 0
    limit: Annotated[int, Meta(ge=1, le=200)] = 50


class ActivityQuery(msgspec.Struct):
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    after_position: Position = 0
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class VerifyQuery(msgspec.Struct):
    stream: Text | None = None


class EventsPage(msgspec.Struct):
    events: list[AuditEvent]
    next_position: int | None


def _ts(value: dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.timestamp()


async def _auditor(ctx: Ctx, route: str, users: UserHandlers, events: EventStore) -> None:
    """403 unless the caller is an auditor (as the log says); then record the read."""
    state = await users.get(ctx.me.id)
    if not state.is_auditor:
        raise ForbiddenError("Auditor role required")
    filters = {k: v[:200] for k, v in ctx.request.query_params.items()}
    for name, value in ctx.request.path_params.items():
        filters[f"path.{name}"] = str(value)
    event = AuditRead(reader_id=ctx.me.id, route=route, filters=filters, at=time.time())
    await append(events, audit_stream(ctx.me.id), [event], None)


def _json(body: bytes) -> Response:
    return Response(body, media_type="application/json")


def _scan(qry: EventsQuery | ActivityQuery, actor_id: str | None = None) -> Scan:
    if isinstance(qry, ActivityQuery):
        return Scan(
            after_position=qry.after_position,
            since=_ts(qry.since),
            until=_ts(qry.until),
            actor_id=actor_id,
        )
    types = tuple(t for t in (qry.types or "").split(",") if t)
    return Scan(
        after_position=qry.after_position,
        until_position=qry.until_position,
        since=_ts(qry.since),
        until=_ts(qry.until),
        types=types,
        category=qry.category,
        actor_id=qry.actor_id,
        correlation_id=qry.correlation_id,
    )


@api.get("/streams", query=StreamsQuery, response=list[q.StreamView])
async def list_streams(
    ctx: Ctx, users: UserHandlers, log: EventLog, events: EventStore
) -> list[q.StreamView]:
    """Streams of the event log, by name, with their version and positions."""
    await _auditor(ctx, "GET /audit/streams", users=users, events=events)
    qry: StreamsQuery = ctx.query
    return await q.streams(log, qry.category, qry.prefix, qry.skip, qry.limit)


@api.get("/streams/{stream}", query=StreamQuery, response=list[AuditEvent])
async def read_stream(ctx: Ctx, users: UserHandlers, log: EventLog, events: EventStore) -> Response:
    """One stream's events in version order."""
    await _auditor(ctx, "GET /audit/streams/{stream}", users=users, events=events)
    qry: StreamQuery = ctx.query
    recs = await log.stream_page(ctx.path_str("stream"), qry.from_version, qry.limit)
    return _json(q.json_array(recs))


@api.get("/events", query=EventsQuery, response=EventsPage)
async def events(ctx: Ctx, users: UserHandlers, log: EventLog, events: EventStore) -> Response:
    """The global log in position order, filtered; continue after ``next_position``."""
    await _auditor(ctx, "GET /audit/events", users=users, events=events)
    qry: EventsQuery = ctx.query
    recs, more = await log.scan(_scan(qry), qry.limit)
    return _json(q.events_page(recs, more))


@api.get("/export", query=EventsQuery, raw_response="application/x-ndjson")
async def export(ctx: Ctx, users: UserHandlers, log: EventLog, events: EventStore) -> Response:
    """Every matching event as NDJSON, streamed (same filters as ``/events``, no limit)."""
    await _auditor(ctx, "GET /audit/export", users=users, events=events)
    qry: EventsQuery = ctx.query
    chunks = q.export(log, _scan(qry))
    return StreamingResponse(chunks, media_type="application/x-ndjson")


@api.get("/conversations/{conversation_id:int}/state", query=StateQuery, response=ConversationState)
async def conversation_state(
    ctx: Ctx,
    users: UserHandlers,
    log: EventLog,
    events: EventStore,
    read: ReadStore,
    time_travel: TimeTravel,
) -> ConversationState:
    """The conversation as it stood at a time or a position: members, roles, read state and
    messages with their content then, their original text, edits and recall."""
    await _auditor(ctx, "GET /audit/conversations/{id}/state", users=users, events=events)
    qry: StateQuery = ctx.query
    position, at_time = await _resolve_at(ctx, qry.at, log=log)
    cid = ctx.path_int("conversation_id")
    return await state_at(time_travel, read, cid, position, at_time, qry.after_seq, qry.limit)


async def _resolve_at(ctx: Ctx, at: str, log: EventLog) -> tuple[int, float | None]:
    if at.isdigit():
        return int(at), None
    try:
        when = msgspec.convert(at, dt.datetime)
    except msgspec.ValidationError:
        raise InvalidError("at must be an ISO 8601 time or an event position") from None
    ts = _ts(when)
    assert ts is not None
    return await log.position_at(ts), ts


@api.get("/users/{user_id:int}/activity", query=ActivityQuery, response=list[AuditEvent])
async def activity(ctx: Ctx, users: UserHandlers, log: EventLog, events: EventStore) -> Response:
    """Events whose actor is that user, in position order."""
    await _auditor(ctx, "GET /audit/users/{id}/activity", users=users, events=events)
    qry: ActivityQuery = ctx.query
    user_id: int = ctx.path_int("user_id")
    recs, _ = await log.scan(_scan(qry, str(user_id)), qry.limit)
    return _json(q.json_array(recs))


@api.get("/verify", query=VerifyQuery, response=q.Verification)
async def verify(
    ctx: Ctx, users: UserHandlers, log: EventLog, events: EventStore
) -> q.Verification:
    """Check the hash chain of one stream or of the whole log; the first break, if any."""
    await _auditor(ctx, "GET /audit/verify", users=users, events=events)
    qry: VerifyQuery = ctx.query
    return await q.verify(log, qry.stream)
