"""Notifications: one stream per recipient, the inbox state that decides status changes, and
the per-user preferences that decide whether a new notification is pushed.

Streams: ``notifications-{user_id}`` (created, read, unread, deleted) and
``notifprefs-{user_id}`` (each event carries the full preferences, so the last one is current).
A user's notification operations read only their own streams, whatever anyone else has.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Literal, assert_never
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from domain.errors import InvalidError, NotFoundError
from domain.events import Event

Kind = Literal["message", "system", "group_invite", "mention", "broadcast", "event"]
Priority = Literal["low", "normal", "high"]
KINDS: tuple[Kind, ...] = ("message", "system", "group_invite", "mention", "broadcast", "event")
PRIORITIES: tuple[Priority, ...] = ("low", "normal", "high")
EmailFrequency = Literal["immediate", "hourly", "daily", "weekly", "never"]
MAX_TITLE = 200
MAX_CONTENT = 5000
MAX_DATA_BYTES = 16384
# A status event names at most this many notifications: its read-model ops stay well under the
# 1024 ops one event may produce (see projections.store.Guarded).
IDS_PER_EVENT = 500
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def notifications_stream(user_id: int) -> str:
    return f"notifications-{user_id}"


_DUE_NAMESPACE = uuid.UUID("5b0f3f6e-4d0a-4c9e-9a51-6d1f3c2b7a10")


def preferences_stream(user_id: int) -> str:
    return f"notifprefs-{user_id}"


class NotificationCreated(Event, frozen=True, tag="NotificationCreated"):
    """A notification for ``user_id``. ``push`` is the recipient's preferences' verdict at ``at``
    (see ``should_push``), fixed here so live push and resume replay agree. ``source`` names what
    caused a system notification (``"<event type>:<event id>"``); None for a superuser's."""

    notification_id: int
    user_id: int
    title: str
    content: str
    kind: Kind = "system"
    priority: Priority = "normal"
    data: dict[str, Any] | None = None
    scheduled_at: float | None = None
    push: bool = True
    source: str | None = None
    at: float = 0.0


class NotificationDue(Event, frozen=True, tag="NotificationDue"):
    """A scheduled notification's time came: pushed (``push``: the recipient's preferences at
    ``at``) as ``notification_created``. Carries the notification, so the push needs no lookup;
    its event id is derived from the notification (``due_event_id``), so however many
    processes or restarts fire it, it is appended once."""

    notification_id: int
    user_id: int
    title: str
    content: str
    kind: Kind = "system"
    priority: Priority = "normal"
    data: dict[str, Any] | None = None
    scheduled_at: float | None = None
    created_at: float = 0.0
    push: bool = True
    at: float = 0.0

    def as_created(self) -> NotificationCreated:
        return NotificationCreated(
            notification_id=self.notification_id,
            user_id=self.user_id,
            title=self.title,
            content=self.content,
            kind=self.kind,
            priority=self.priority,
            data=self.data,
            scheduled_at=self.scheduled_at,
            at=self.created_at,
        )


def due_event_id(notification_id: int) -> str:
    return str(uuid.uuid5(_DUE_NAMESPACE, f"due:{notification_id}"))


class NotificationsRead(Event, frozen=True, tag="NotificationsRead"):
    """These notifications of ``user_id`` (all unread before) are read now."""

    user_id: int
    notification_ids: list[int]
    at: float = 0.0


class NotificationsUnread(Event, frozen=True, tag="NotificationsUnread"):
    """These notifications of ``user_id`` (all read before) are unread again."""

    user_id: int
    notification_ids: list[int]
    at: float = 0.0


class NotificationsDeleted(Event, frozen=True, tag="NotificationsDeleted"):
    user_id: int
    notification_ids: list[int]
    at: float = 0.0


NotificationEvent = (
    NotificationCreated
    | NotificationDue
    | NotificationsRead
    | NotificationsUnread
    | NotificationsDeleted
)


class Draft(msgspec.Struct, frozen=True):
    """A notification about to be created (the id and time are the handler's)."""

    user_id: int
    title: str
    content: str
    kind: Kind = "system"
    priority: Priority = "normal"
    data: dict[str, Any] | None = None
    scheduled_at: float | None = None
    source: str | None = None
    silent: bool = False  # recorded without a push (e.g. a broadcast, pushed on its own)


def validate_draft(d: Draft) -> Draft:
    if not d.title.strip() or len(d.title) > MAX_TITLE:
        raise InvalidError(f"title must be 1-{MAX_TITLE} characters")
    if len(d.content) > MAX_CONTENT:
        raise InvalidError(f"content must be at most {MAX_CONTENT} characters")
    if d.data is not None and len(msgspec.json.encode(d.data)) > MAX_DATA_BYTES:
        raise InvalidError(f"data must encode to at most {MAX_DATA_BYTES} bytes of JSON")
    return d


# -- the inbox: what status decisions need ------------------------------------------------------


class Inbox(msgspec.Struct):
    """A user's notifications that exist: id -> (is read, visible from)."""

    items: dict[int, tuple[bool, float]] = {}


def evolve(state: Inbox, event: Event) -> Inbox:
    """Mutates and returns ``state`` (inboxes are private to the command side's cache)."""
    if not isinstance(event, NotificationEvent):
        return state
    items = state.items
    match event:
        case NotificationCreated():
            visible = max(event.at, event.scheduled_at or event.at)
            items[event.notification_id] = (False, visible)
        case NotificationsRead():
            for i in event.notification_ids:
                if i in items:
                    items[i] = (True, items[i][1])
        case NotificationsUnread():
            for i in event.notification_ids:
                if i in items:
                    items[i] = (False, items[i][1])
        case NotificationsDeleted():
            for i in event.notification_ids:
                items.pop(i, None)
        case NotificationDue():  # pushed; the inbox does not change
            pass
        case _:
            assert_never(event)
    return state


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), IDS_PER_EVENT):
        yield list(ids[start : start + IDS_PER_EVENT])


def owned(state: Inbox, ids: Iterable[int]) -> tuple[list[int], list[int]]:
    """(the caller's ids, the others), each deduplicated in the given order."""
    mine: list[int] = []
    other: list[int] = []
    for i in dict.fromkeys(ids):
        (mine if i in state.items else other).append(i)
    return mine, other


def require_owned(state: Inbox, notification_id: int) -> None:
    if notification_id not in state.items:
        raise NotFoundError("Notification not found")


def decide_status(
    state: Inbox, user_id: int, ids: Sequence[int] | None, read: bool, at: float
) -> list[Event]:
    """Mark ``ids`` (None: every visible one) read or unread; ids not owned are ignored and
    those already in that status produce nothing."""
    if ids is None:
        wanted = [i for i, (_, visible) in state.items.items() if visible <= at]
    else:
        wanted, _ = owned(state, ids)
    changing = [i for i in wanted if state.items[i][0] != read]
    cls = NotificationsRead if read else NotificationsUnread
    return [cls(user_id=user_id, notification_ids=c, at=at) for c in _chunks(changing)]


def decide_delete(state: Inbox, user_id: int, ids: Sequence[int], at: float) -> list[Event]:
    mine, _ = owned(state, ids)
    return [NotificationsDeleted(user_id=user_id, notification_ids=c, at=at) for c in _chunks(mine)]


# -- preferences ----------------------------------------------------------------------------------


class Preferences(msgspec.Struct, frozen=True, kw_only=True):
    """A user's notification preferences. Quiet hours are ``HH:MM`` in ``timezone`` (IANA);
    both set and different means a daily quiet period (wrapping past midnight when start > end).
    """

    message_enabled: bool = True
    group_message_enabled: bool = True
    websocket_enabled: bool = True
    email_enabled: bool = False
    push_enabled: bool = True
    do_not_disturb: bool = False
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    email_frequency: str = "immediate"
    timezone: str = "UTC"


class PreferencesChanged(Event, frozen=True, tag="NotificationPreferencesChanged"):
    """``user_id``'s preferences, in full, from now on."""

    user_id: int
    preferences: Preferences
    at: float = 0.0


PreferencesEvent = PreferencesChanged


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidError(
            f"Unknown timezone {name!r}; use an IANA name like 'Asia/Shanghai'"
        ) from None


def validate_preferences(p: Preferences) -> Preferences:
    """Quiet hours are whole ``HH:MM`` times (the request schema's pattern lets a trailing
    newline through: ``$``), start and end together, in a timezone there is. The email
    frequency is the request schema's (an ``EmailFrequency``)."""
    for label, value in (
        ("quiet_hours_start", p.quiet_hours_start),
        ("quiet_hours_end", p.quiet_hours_end),
    ):
        if value is not None and not HHMM.fullmatch(value):
            raise InvalidError(f"{label} must be a time as HH:MM (00:00-23:59)")
    if (p.quiet_hours_start is None) != (p.quiet_hours_end is None):
        raise InvalidError("quiet_hours_start and quiet_hours_end must be set together")
    _zone(p.timezone)
    return p


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def in_quiet_hours(p: Preferences, at: float) -> bool:
    """Whether ``at`` (epoch seconds) falls in the user's quiet hours, in their timezone."""
    if p.quiet_hours_start is None or p.quiet_hours_end is None:
        return False
    start, end = _minutes(p.quiet_hours_start), _minutes(p.quiet_hours_end)
    if start == end:
        return False
    local = dt.datetime.fromtimestamp(at, _zone(p.timezone))
    now = local.hour * 60 + local.minute
    return start <= now < end if start < end else now >= start or now < end


def should_push(p: Preferences, kind: str, at: float, scheduled_at: float | None = None) -> bool:
    """Whether a notification of ``kind`` created at ``at`` goes out as ``notification_created``.

    Never with WebSocket push off, in do-not-disturb or quiet hours, for ``message`` with
    ``message_enabled`` off or ``mention`` with ``group_message_enabled`` off, nor for one
    scheduled later (it appears in lists at its time instead). The notification is kept either way.
    """
    if not p.websocket_enabled or p.do_not_disturb or in_quiet_hours(p, at):
        return False
    if scheduled_at is not None and scheduled_at > at:
        return False
    if kind == "message" and not p.message_enabled:
        return False
    return not (kind == "mention" and not p.group_message_enabled)
