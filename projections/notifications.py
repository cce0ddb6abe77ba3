"""The notifications read models: notifications, per-user preferences, templates.

A notification document carries ``visible_at`` (its scheduled time, or its creation): lists and
counts show only those already visible.
"""

from __future__ import annotations

from typing import Any, assert_never

import msgspec

from domain import notification_templates as t
from domain import notifications as n
from domain.events import Event, type_names
from domain.store import RecordedEvent
from projections.schema import (
    NOTIFICATIONS,
    PREFERENCES,
    TEMPLATES,
    NotificationDoc,
    PreferencesDoc,
)
from projections.store import Collection, Op


def _created(e: n.NotificationCreated) -> Op:
    doc = NotificationDoc(
        id=e.notification_id,
        user_id=e.user_id,
        title=e.title,
        content=e.content,
        kind=e.kind,
        priority=e.priority,
        status="unread",
        data=e.data,
        created_at=e.at,
        read_at=None,
        scheduled_at=e.scheduled_at,
        visible_at=max(e.at, e.scheduled_at or e.at),
        source=e.source,
    )
    return NOTIFICATIONS.put(str(e.notification_id), doc)


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
    # A patch: an update keeps the template's ``created_at``.
    return TEMPLATES.patch(str(template_id), set=doc, insert={"created_at": at})


class NotificationsProjection:
    name = "notifications"
    collections: tuple[Collection[Any], ...] = (NOTIFICATIONS, PREFERENCES, TEMPLATES)
    # The only events handle acts on: the projector skips the others without calling it.
    handles = type_names(n.NotificationEvent | n.PreferencesEvent | t.TemplateEvent)

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        if not isinstance(event, n.NotificationEvent | n.PreferencesEvent | t.TemplateEvent):
            return []
        match event:
            case n.NotificationCreated():
                return [_created(event)]
            case n.NotificationsRead():
                change = {"status": "read", "read_at": event.at}
                return [
                    NOTIFICATIONS.patch(str(i), set=change, upsert=False)
                    for i in event.notification_ids
                ]
            case n.NotificationsUnread():
                change = {"status": "unread", "read_at": None}
                return [
                    NOTIFICATIONS.patch(str(i), set=change, upsert=False)
                    for i in event.notification_ids
                ]
            case n.NotificationsDeleted():
                return [NOTIFICATIONS.delete(str(i)) for i in event.notification_ids]
            case n.NotificationDue():  # the push of a scheduled one: nothing to store
                return []
            case n.PreferencesChanged():
                fields = msgspec.structs.asdict(event.preferences)
                prefs = PreferencesDoc(user_id=event.user_id, **fields)
                return [PREFERENCES.put(str(event.user_id), prefs)]
            case t.TemplateCreated() | t.TemplateUpdated():
                return [_template(event.template_id, event.fields, event.at)]
            case t.TemplateDeleted():
                return [TEMPLATES.delete(str(event.template_id))]
            case _:
                assert_never(event)
