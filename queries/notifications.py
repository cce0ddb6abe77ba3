"""Notification views: lists, stats, one notification, preferences, templates."""

from __future__ import annotations

from typing import Any

import msgspec

from domain import notifications as n
from domain.errors import NotFoundError
from projections.schema import (
    NOTIFICATIONS,
    PREFERENCES,
    TEMPLATES,
    NotificationDoc,
    TemplateDoc,
)
from projections.store import ReadStore
from queries.views import iso


class Notification(msgspec.Struct):
    """The contract's ``Notification``."""

    id: int
    user_id: int
    title: str
    content: str
    type: str
    priority: str
    status: str
    data: dict[str, Any] | None
    created_at: str
    read_at: str | None
    scheduled_at: str | None


class NotificationStats(msgspec.Struct):
    total: int
    unread_count: int
    read_count: int
    by_type: dict[str, int]
    by_priority: dict[str, int]


class Template(msgspec.Struct):
    id: int
    name: str
    type: str
    title_template: str
    content_template: str
    priority: str
    is_active: bool
    created_at: str
    updated_at: str


def notification_view(doc: NotificationDoc) -> Notification:
    return Notification(
        id=doc.id,
        user_id=doc.user_id,
        title=doc.title,
        content=doc.content,
        type=doc.kind,
        priority=doc.priority,
        status=doc.status,
        data=doc.data,
        created_at=iso(doc.created_at) or "",
        read_at=iso(doc.read_at),
        scheduled_at=iso(doc.scheduled_at),
    )


def created_view(e: n.NotificationCreated) -> Notification:
    """The view of a notification as it is created (for responses and push frames)."""
    return Notification(
        id=e.notification_id,
        user_id=e.user_id,
        title=e.title,
        content=e.content,
        type=e.kind,
        priority=e.priority,
        status="unread",
        data=e.data,
        created_at=iso(e.at) or "",
        read_at=None,
        scheduled_at=iso(e.scheduled_at),
    )


def _visible(user_id: int, now: float) -> dict[str, Any]:
    return {"user_id": user_id, "visible_at": {"$lte": now}}


async def list_notifications(
    read: ReadStore,
    user_id: int,
    *,
    now: float,
    unread_only: bool = False,
    kind: str | None = None,
    skip: int = 0,
    limit: int = 20,
) -> list[Notification]:
    """The user's visible notifications, newest first."""
    where = _visible(user_id, now)
    if unread_only:
        where["status"] = "unread"
    if kind is not None:
        where["kind"] = kind
    docs = await read.find(NOTIFICATIONS, where, order=[("id", -1)], skip=skip, limit=limit)
    return [notification_view(d) for d in docs]


async def get_notification(read: ReadStore, user_id: int, notification_id: int) -> Notification:
    doc = await read.get(NOTIFICATIONS, str(notification_id))
    if doc is None or doc.user_id != user_id:
        raise NotFoundError("Notification not found")
    return notification_view(doc)


async def stats(read: ReadStore, user_id: int, now: float) -> NotificationStats:
    base = _visible(user_id, now)
    total = await read.count(NOTIFICATIONS, base)
    unread = await read.count(NOTIFICATIONS, {**base, "status": "unread"})
    by_type: dict[str, int] = {
        k: await read.count(NOTIFICATIONS, {**base, "kind": k}) for k in n.KINDS
    }
    by_priority: dict[str, int] = {
        p: await read.count(NOTIFICATIONS, {**base, "priority": p}) for p in n.PRIORITIES
    }
    return NotificationStats(
        total=total,
        unread_count=unread,
        read_count=total - unread,
        by_type=by_type,
        by_priority=by_priority,
    )


async def preferences(read: ReadStore, user_id: int) -> n.Preferences:
    doc = await read.get(PREFERENCES, str(user_id))
    if doc is None:
        return n.Preferences()
    fields = msgspec.structs.asdict(doc)
    del fields["user_id"]
    return n.Preferences(**fields)


def template_view(doc: TemplateDoc) -> Template:
    return Template(
        id=doc.id,
        name=doc.name,
        type=doc.kind,
        title_template=doc.title_template,
        content_template=doc.content_template,
        priority=doc.priority,
        is_active=doc.is_active,
        created_at=iso(doc.created_at) or "",
        updated_at=iso(doc.updated_at) or "",
    )


async def list_templates(
    read: ReadStore, *, active_only: bool, skip: int, limit: int
) -> list[Template]:
    where = {"is_active": True} if active_only else None
    docs = await read.find(TEMPLATES, where, order=[("id", 1)], skip=skip, limit=limit)
    return [template_view(d) for d in docs]


async def get_template(read: ReadStore, template_id: int) -> Template:
    doc = await read.get(TEMPLATES, str(template_id))
    if doc is None:
        raise NotFoundError("Template not found")
    return template_view(doc)


async def scheduled_since(read: ReadStore, since: float) -> list[n.NotificationDue]:
    """Notifications scheduled for after ``since`` (for the timer that pushes them when due)."""
    return [
        n.NotificationDue(
            notification_id=d.id,
            user_id=d.user_id,
            title=d.title,
            content=d.content,
            kind=d.kind,  # type: ignore[arg-type]
            priority=d.priority,  # type: ignore[arg-type]
            data=d.data,
            scheduled_at=d.scheduled_at,
            created_at=d.created_at,
        )
        for d in await read.find(NOTIFICATIONS, {"scheduled_at": {"$gt": since}})
    ]
