"""``/notifications``: the caller's notifications, superusers' sends, preferences.

Templates are in ``notification_templates``. Only the owner reaches a notification; anyone
else gets the same 404 as for an unknown id.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from commands.notifications import (
    DeleteNotifications,
    MarkNotifications,
    NotificationHandlers,
    SetPreferences,
)
from domain import notification_templates as t
from domain import notifications as n
from domain.errors import DomainError, InvalidError
from gateway.dates import epoch
from gateway.http import Api, Ctx, WaitFor, require_settled
from gateway.schemas import Id, Limit200, Skip
from projections.store import ReadStore
from queries import notifications as q
from queries.users import existing_ids, find_user

api = Api("/api/v1/notifications", tag="notifications")

Title = Annotated[str, Meta(min_length=1, max_length=n.MAX_TITLE)]
Content = Annotated[str, Meta(max_length=n.MAX_CONTENT)]
Ids = Annotated[list[Id], Meta(min_length=1, max_length=1000)]
HHMM = Annotated[str, Meta(pattern=n.HHMM.pattern)]
MAX_SEND = 1000


class ListQuery(msgspec.Struct):
    unread_only: bool = False
    type: n.Kind | None = None
    skip: Skip = 0
    limit: Limit200 = 20


class NotificationCreate(msgspec.Struct, forbid_unknown_fields=False):
    user_id: Id
    title: Title
    content: Content = ""
    type: n.Kind = "system"
    priority: n.Priority = "normal"
    data: dict[str, Any] | None = None
    scheduled_at: dt.datetime | None = None


class NotificationSend(msgspec.Struct, forbid_unknown_fields=False):
    user_ids: Annotated[list[Id], Meta(min_length=1, max_length=MAX_SEND)]
    title: Title | None = None
    content: Content | None = None
    template_id: Id | None = None
    variables: dict[str, t.Scalar] = {}
    type: n.Kind | None = None
    priority: n.Priority | None = None
    data: dict[str, Any] | None = None


class SendError(msgspec.Struct):
    index: int
    detail: str


class SendResult(msgspec.Struct):
    total_sent: int
    successful: int
    failed: int
    notification_ids: list[int]
    errors: list[SendError]


class NotificationUpdate(msgspec.Struct):
    status: Literal["read", "unread"] | None = None


class MarkRead(msgspec.Struct):
    notification_ids: Annotated[list[Id], Meta(max_length=1000)] | None = None
    all: bool = False


class BatchAction(msgspec.Struct):
    notification_ids: Ids
    action: Literal["mark_read", "mark_unread", "delete"]


class BatchResult(msgspec.Struct):
    processed: int
    failed: int


class PreferencesUpdate(msgspec.Struct):
    message_enabled: bool | UnsetType = UNSET
    group_message_enabled: bool | UnsetType = UNSET
    websocket_enabled: bool | UnsetType = UNSET
    email_enabled: bool | UnsetType = UNSET
    push_enabled: bool | UnsetType = UNSET
    do_not_disturb: bool | UnsetType = UNSET
    quiet_hours_start: HHMM | UnsetType | None = UNSET
    quiet_hours_end: HHMM | UnsetType | None = UNSET
    email_frequency: n.EmailFrequency | UnsetType = UNSET
    timezone: Annotated[str, Meta(min_length=1, max_length=64)] | UnsetType = UNSET


@api.get("/", query=ListQuery, response=list[q.Notification])
async def list_notifications(ctx: Ctx, read: ReadStore) -> list[q.Notification]:
    """The caller's notifications, newest first."""
    qry: ListQuery = ctx.query
    return await q.list_notifications(
        read,
        ctx.me.id,
        now=time.time(),
        unread_only=qry.unread_only,
        kind=qry.type,
        skip=qry.skip,
        limit=qry.limit,
    )


@api.get("/stats", response=q.NotificationStats)
async def stats(ctx: Ctx, read: ReadStore) -> q.NotificationStats:
    """Counts of the caller's notifications: total, unread, read, by type, by priority."""
    return await q.stats(read, ctx.me.id, time.time())


@api.post("/", body=NotificationCreate, response=q.Notification, status=201, auth="superuser")
async def create(ctx: Ctx, read: ReadStore, notifications: NotificationHandlers) -> q.Notification:
    """Create a notification for a user (superuser)."""
    body: NotificationCreate = ctx.body
    if await find_user(read, body.user_id) is None:
        raise InvalidError("User not found")
    draft = n.Draft(
        user_id=body.user_id,
        title=body.title,
        content=body.content,
        kind=body.type,
        priority=body.priority,
        data=body.data,
        scheduled_at=epoch(body.scheduled_at, "scheduled_at"),
    )
    event, ctx.position = await notifications.create(draft)
    return q.created_view(event)


async def _rendered(
    ctx: Ctx, body: NotificationSend, read: ReadStore
) -> tuple[str, str, n.Kind, n.Priority]:
    title, content = body.title, body.content
    kind: n.Kind = body.type or "system"
    priority: n.Priority = body.priority or "normal"
    if body.template_id is not None:
        template = await q.get_template(read, body.template_id)
        if not template.is_active:
            raise InvalidError("Template is not active")
        title = title if title is not None else t.render(template.title_template, body.variables)
        if content is None:
            content = t.render(template.content_template, body.variables)
        kind = body.type or template.type  # type: ignore[assignment]
        priority = body.priority or template.priority  # type: ignore[assignment]
    if title is None:
        raise InvalidError("Give title (and content) or a template_id")
    return title[: n.MAX_TITLE], (content or "")[: n.MAX_CONTENT], kind, priority


@api.post("/send", body=NotificationSend, response=SendResult, auth="superuser")
async def send(ctx: Ctx, read: ReadStore, notifications: NotificationHandlers) -> SendResult:
    """Send one notification to each of many users, from text or a template (superuser)."""
    body: NotificationSend = ctx.body
    title, content, kind, priority = await _rendered(ctx, body, read=read)
    n.validate_draft(n.Draft(0, title, content, kind, priority, body.data))
    known = await existing_ids(read, body.user_ids)
    errors: list[SendError] = []
    slots: list[int] = []
    drafts: list[n.Draft] = []
    seen: set[int] = set()
    for index, uid in enumerate(body.user_ids):
        user = known.get(uid)
        if uid in seen:
            errors.append(SendError(index, "Duplicate user id"))
        elif user is None:
            errors.append(SendError(index, "User not found"))
        elif not user.is_active:
            errors.append(SendError(index, "User is inactive"))
        else:
            slots.append(index)
            drafts.append(n.Draft(uid, title, content, kind, priority, body.data))
        seen.add(uid)
    ids: list[int] = []
    positions: list[int] = []
    for index, result in zip(slots, await notifications.create_many(drafts), strict=True):
        if isinstance(result, DomainError):
            errors.append(SendError(index, result.detail))
        elif isinstance(result, BaseException):
            raise result
        else:
            ids.append(result[0].notification_id)
            positions.append(result[1])
    ctx.position = max(positions, default=None)
    errors.sort(key=lambda e: e.index)
    return SendResult(len(body.user_ids), len(ids), len(errors), ids, errors)


@api.patch("/{notification_id:int}", body=NotificationUpdate, response=q.Notification)
async def update(
    ctx: Ctx, read: ReadStore, notifications: NotificationHandlers, wait_for: WaitFor
) -> q.Notification:
    """Set a notification's status (read or unread)."""
    body: NotificationUpdate = ctx.body
    nid, me = ctx.path_int("notification_id"), ctx.me.id
    await notifications.require_owned(me, nid)
    if body.status is not None:
        cmd = MarkNotifications(me, [nid], body.status == "read")
        await require_settled(ctx, await notifications.mark_notifications(cmd), wait_for=wait_for)
    return await q.get_notification(read, me, nid)


@api.delete("/{notification_id:int}", status=204)
async def delete(ctx: Ctx, notifications: NotificationHandlers) -> None:
    """Delete one of the caller's notifications."""
    nid, me = ctx.path_int("notification_id"), ctx.me.id
    await notifications.require_owned(me, nid)
    ctx.position = await notifications.delete_notifications(DeleteNotifications(me, [nid]))


@api.post("/{notification_id:int}/mark-read", status=204)
async def mark_one_read(ctx: Ctx, notifications: NotificationHandlers) -> None:
    """Mark one of the caller's notifications read."""
    nid, me = ctx.path_int("notification_id"), ctx.me.id
    await notifications.require_owned(me, nid)
    ctx.position = await notifications.mark_notifications(MarkNotifications(me, [nid]))


@api.post("/mark-read", body=MarkRead, status=204)
async def mark_read(ctx: Ctx, notifications: NotificationHandlers) -> None:
    """Mark the given notifications (ids not the caller's are ignored), or all, read."""
    body: MarkRead = ctx.body
    if body.all:
        ids = None
    elif body.notification_ids:
        ids = body.notification_ids
    else:
        raise InvalidError("Give notification_ids or all: true")
    ctx.position = await notifications.mark_notifications(MarkNotifications(ctx.me.id, ids))


@api.post("/batch-action", body=BatchAction, response=BatchResult)
async def batch_action(ctx: Ctx, notifications: NotificationHandlers) -> BatchResult:
    """Mark read, mark unread or delete many; ids not the caller's count as failed."""
    body: BatchAction = ctx.body
    me = ctx.me.id
    mine, other = await notifications.owned(me, body.notification_ids)
    if mine:
        if body.action == "delete":
            cmd = DeleteNotifications(me, mine)
            ctx.position = await notifications.delete_notifications(cmd)
        else:
            read = body.action == "mark_read"
            ctx.position = await notifications.mark_notifications(MarkNotifications(me, mine, read))
    return BatchResult(processed=len(mine), failed=len(other))


@api.get("/preferences/", response=n.Preferences)
async def get_preferences(ctx: Ctx, read: ReadStore) -> n.Preferences:
    """The caller's notification preferences (defaults until changed)."""
    return await q.preferences(read, ctx.me.id)


@api.put("/preferences/", body=PreferencesUpdate, response=n.Preferences)
async def put_preferences(ctx: Ctx, notifications: NotificationHandlers) -> n.Preferences:
    """Change any of the caller's preferences; the others keep their values."""
    body: PreferencesUpdate = ctx.body
    cmd = SetPreferences(
        user_id=ctx.me.id,
        message_enabled=body.message_enabled,
        group_message_enabled=body.group_message_enabled,
        websocket_enabled=body.websocket_enabled,
        email_enabled=body.email_enabled,
        push_enabled=body.push_enabled,
        do_not_disturb=body.do_not_disturb,
        quiet_hours_start=body.quiet_hours_start,
        quiet_hours_end=body.quiet_hours_end,
        email_frequency=body.email_frequency,
        timezone=body.timezone,
    )
    prefs, ctx.position = await notifications.set_preferences(cmd)
    return prefs
