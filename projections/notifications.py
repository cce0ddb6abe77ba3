"""The notifications read models: notifications, per-user preferences, templates.

A notification document carries ``visible_at`` (its scheduled time, or its creation): lists and
counts show only those already visible.
"""

from __future__ import annotations

import msgspec

from domain import notification_templates as t
from domain import notifications as n
from domain.events import Event
from domain.store import RecordedEvent
from projections.store import Collection, Delete, Index, Op, Patch, Put

NOTIFICATIONS = "notifications"
PREFERENCES = "notification_preferences"
TEMPLATES = "notification_templates"


def _created(e: n.NotificationCreated) -> Op:
    doc = {
        "id": e.notification_id,
        "user_id": e.user_id,
        "title": e.title,
        "content": e.content,
        "kind": e.kind,
        "priority": e.priority,
        "status": "unread",
        "data": e.data,
        "created_at": e.at,
        "read_at": None,
        "scheduled_at": e.scheduled_at,
        "visible_at": max(e.at, e.scheduled_at or e.at),
        "source": e.source,
    }
    return Put(NOTIFICATIONS, str(e.notification_id), doc)


def _template(template_id: int, fields: t.TemplateFields, at: float) -> Op:
    doc = {
        "id": template_id,
        "name": fields.name,
        "name_lower": fields.name.lower(),
        "kind": fields.kind,
        "title_template": fields.title_template,
        "content_template": fields.content_template,
        "priority": fields.priority,
        "is_active": fields.is_active,
        "updated_at": at,
    }
    return Patch(TEMPLATES, str(template_id), set=doc, insert={"created_at": at})


class NotificationsProjection:
    name = "notifications"
    collections: tuple[Collection, ...] = (
        Collection(
            NOTIFICATIONS,
            indexes=(
                Index(("user_id", "id")),
                Index(("user_id", "status")),
                Index(("user_id", "kind")),
                Index(("user_id", "priority")),
            ),
        ),
        Collection(PREFERENCES),
        Collection(TEMPLATES, indexes=(Index(("name_lower",)),)),
    )

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        match event:
            case n.NotificationCreated():
                return [_created(event)]
            case n.NotificationsRead():
                change = {"status": "read", "read_at": event.at}
                return [
                    Patch(NOTIFICATIONS, str(i), set=change, upsert=False)
                    for i in event.notification_ids
                ]
            case n.NotificationsUnread():
                change = {"status": "unread", "read_at": None}
                return [
                    Patch(NOTIFICATIONS, str(i), set=change, upsert=False)
                    for i in event.notification_ids
                ]
            case n.NotificationsDeleted():
                return [Delete(NOTIFICATIONS, str(i)) for i in event.notification_ids]
            case n.PreferencesChanged():
                doc = msgspec.to_builtins(event.preferences)
                doc["user_id"] = event.user_id
                return [Put(PREFERENCES, str(event.user_id), doc)]
            case t.TemplateCreated() | t.TemplateUpdated():
                return [_template(event.template_id, event.fields, event.at)]
            case t.TemplateDeleted():
                return [Delete(TEMPLATES, str(event.template_id))]
        return []
