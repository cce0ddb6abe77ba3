"""Notification commands: create (one or many), read/unread/delete, preferences.

Each user's inbox is kept in memory (bounded LRU) and brought up to date by reading only the
tail of their stream, so an operation costs O(new events of that user), never O(history) or
anything of other users. Creations without a fixed id append with any expected version (they
never conflict). A creation with a fixed id (the notification policy's, derived from the causing
event) must happen once however often it is retried, even after the event store has forgotten
the id (KurrentDB only remembers recent ids): it looks for the id in the recipient's stream and
appends against the stream's version. Status changes append against the inbox's version and
retry on a conflict.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

import msgspec
from msgspec import UNSET, UnsetType

from commands.core import RETRIES, IdAllocator, append, given, with_retry
from domain import notifications as n
from domain.errors import ConcurrencyError, NotFoundError
from domain.events import Event
from domain.store import NO_STREAM, EventStore, NewEvent
from domain.store import new_event as to_new_event

CACHE_USERS = 10_000
RECENT_IDS = 2000  # fixed event ids remembered per user (a policy retry repeats only recent ones)
Decide = Callable[[n.Inbox, float], list[Event]]


class MarkNotifications(msgspec.Struct, frozen=True):
    """Mark the user's notifications ``notification_ids`` (None: all visible) read or unread."""

    user_id: int
    notification_ids: list[int] | None
    read: bool = True


class DeleteNotifications(msgspec.Struct, frozen=True):
    user_id: int
    notification_ids: list[int]


class SetPreferences(msgspec.Struct, frozen=True, kw_only=True):
    """Change the user's preferences given (not ``UNSET``); the others keep their values."""

    user_id: int
    message_enabled: bool | UnsetType = UNSET
    group_message_enabled: bool | UnsetType = UNSET
    websocket_enabled: bool | UnsetType = UNSET
    email_enabled: bool | UnsetType = UNSET
    push_enabled: bool | UnsetType = UNSET
    do_not_disturb: bool | UnsetType = UNSET
    quiet_hours_start: str | UnsetType | None = UNSET
    quiet_hours_end: str | UnsetType | None = UNSET
    email_frequency: n.EmailFrequency | UnsetType = UNSET
    timezone: str | UnsetType = UNSET


class _Entry:
    __slots__ = ("ids", "inbox", "lock", "version")

    def __init__(self) -> None:
        self.inbox = n.Inbox(items={})
        self.version = NO_STREAM
        self.lock = asyncio.Lock()
        self.ids: OrderedDict[str, int] = OrderedDict()  # event id -> version, most recent last

    def saw(self, event_id: str, version: int) -> None:
        self.ids[event_id] = version
        if len(self.ids) > RECENT_IDS:
            self.ids.popitem(last=False)


class NotificationHandlers:
    def __init__(self, store: EventStore, ids: IdAllocator, cache_users: int = CACHE_USERS) -> None:
        self._store = store
        self._ids = ids
        self._cache: OrderedDict[int, _Entry] = OrderedDict()
        self._cache_users = cache_users

    # -- creation -------------------------------------------------------------------------------
    async def create(
        self, draft: n.Draft, event_id: str | None = None
    ) -> tuple[n.NotificationCreated, int]:
        """Create one notification; ``event_id`` fixes the event's id and makes it happen once."""
        n.validate_draft(draft)
        prefs = await self.preferences(draft.user_id)
        notification_id = await self._ids.next("notification")
        stream = n.notifications_stream(draft.user_id)
        if event_id is None:
            event, new = self._event(draft, notification_id, prefs, None)
            return event, await self._store.append(stream, [new], None)
        entry = await self._entry(draft.user_id)
        async with entry.lock:
            for attempt in range(RETRIES):
                await self._catch_up(draft.user_id, entry)
                version = entry.ids.get(event_id)
                if version is not None:  # created before: answer with the original
                    rec = (await self._store.read(stream, version))[0]
                    original = rec.decode()
                    assert isinstance(original, n.NotificationCreated)
                    return original, rec.position
                event, new = self._event(draft, notification_id, prefs, event_id)
                try:
                    position = await self._store.append(stream, [new], entry.version)
                except ConcurrencyError:  # another creation came first: read it, look again
                    if attempt == RETRIES - 1:
                        raise
                    continue
                n.evolve(entry.inbox, event)
                entry.version += 1
                entry.saw(event_id, entry.version)
                return event, position
        raise AssertionError("unreachable")

    @staticmethod
    def _event(
        draft: n.Draft, notification_id: int, prefs: n.Preferences, event_id: str | None
    ) -> tuple[n.NotificationCreated, NewEvent]:
        at = time.time()
        event = n.NotificationCreated(
            notification_id=notification_id,
            user_id=draft.user_id,
            title=draft.title,
            content=draft.content,
            kind=draft.kind,
            priority=draft.priority,
            data=draft.data,
            scheduled_at=draft.scheduled_at,
            push=not draft.silent and n.should_push(prefs, draft.kind, at, draft.scheduled_at),
            source=draft.source,
            at=at,
        )
        new = to_new_event(event)
        if event_id is not None:
            new = msgspec.structs.replace(new, id=event_id)
        return event, new

    async def create_many(
        self, drafts: Sequence[n.Draft], event_ids: Sequence[str] | None = None
    ) -> list[tuple[n.NotificationCreated, int] | BaseException]:
        """Create each draft concurrently (the appends share group commits); a failure is
        returned in its slot instead of failing the others."""
        ids: Sequence[str | None] = event_ids if event_ids is not None else [None] * len(drafts)
        jobs = [self.create(d, i) for d, i in zip(drafts, ids, strict=True)]
        return list(await asyncio.gather(*jobs, return_exceptions=True))

    async def deliver_due(self, due: n.NotificationDue) -> int | None:
        """Append ``due`` (its push verdict from the preferences now) unless the notification
        was deleted meanwhile; the position, or None. Appending it again (another process, a
        restart) answers with the original: the event id is derived from the notification."""
        try:
            await self.require_owned(due.user_id, due.notification_id)
        except NotFoundError:
            return None
        prefs = await self.preferences(due.user_id)
        at = time.time()
        event = msgspec.structs.replace(due, push=n.should_push(prefs, due.kind, at), at=at)
        new = msgspec.structs.replace(to_new_event(event), id=n.due_event_id(due.notification_id))
        return await self._store.append(n.notifications_stream(due.user_id), [new], None)

    # -- status ---------------------------------------------------------------------------------
    async def require_owned(self, user_id: int, notification_id: int) -> None:
        """NotFoundError unless ``notification_id`` is one of the user's existing notifications."""
        entry = await self._entry(user_id)
        async with entry.lock:
            await self._catch_up(user_id, entry)
            n.require_owned(entry.inbox, notification_id)

    async def owned(self, user_id: int, ids: Sequence[int]) -> tuple[list[int], list[int]]:
        entry = await self._entry(user_id)
        async with entry.lock:
            await self._catch_up(user_id, entry)
            return n.owned(entry.inbox, ids)

    async def mark_notifications(self, cmd: MarkNotifications) -> int | None:
        """The position, or None when nothing changed."""
        uid, ids = cmd.user_id, cmd.notification_ids
        return await self._mutate(uid, lambda s, at: n.decide_status(s, uid, ids, cmd.read, at))

    async def delete_notifications(self, cmd: DeleteNotifications) -> int | None:
        uid, ids = cmd.user_id, cmd.notification_ids
        return await self._mutate(uid, lambda s, at: n.decide_delete(s, uid, ids, at))

    async def _mutate(self, user_id: int, decide: Decide) -> int | None:
        entry = await self._entry(user_id)
        stream = n.notifications_stream(user_id)
        async with entry.lock:
            for attempt in range(RETRIES):
                await self._catch_up(user_id, entry)
                events = decide(entry.inbox, time.time())
                if not events:
                    return None
                try:
                    position = await append(self._store, stream, events, entry.version)
                except ConcurrencyError:  # a creation or another process came first
                    if attempt == RETRIES - 1:
                        raise
                    continue
                for e in events:
                    n.evolve(entry.inbox, e)
                entry.version += len(events)
                return position
        raise AssertionError("unreachable")

    async def _entry(self, user_id: int) -> _Entry:
        entry = self._cache.get(user_id)
        if entry is None:
            entry = self._cache[user_id] = _Entry()
            while len(self._cache) > self._cache_users:
                oldest, old = next(iter(self._cache.items()))
                if old.lock.locked():
                    break
                del self._cache[oldest]
        else:
            self._cache.move_to_end(user_id)
        return entry

    async def _catch_up(self, user_id: int, entry: _Entry) -> None:
        for rec in await self._store.read(n.notifications_stream(user_id), entry.version + 1):
            n.evolve(entry.inbox, rec.decode())
            entry.version = rec.version
            if rec.type == "NotificationCreated":
                entry.saw(rec.id, rec.version)

    # -- preferences ----------------------------------------------------------------------------
    async def preferences(self, user_id: int) -> n.Preferences:
        rec = await self._store.last(n.preferences_stream(user_id))
        if rec is None:
            return n.Preferences()
        event = rec.decode()
        assert isinstance(event, n.PreferencesChanged)
        return event.preferences

    async def set_preferences(self, cmd: SetPreferences) -> tuple[n.Preferences, int | None]:
        """Apply the given fields over the current preferences; (result, position or None)."""
        user_id, changes = cmd.user_id, given(cmd, "user_id")
        stream = n.preferences_stream(user_id)

        async def attempt() -> tuple[n.Preferences, int | None]:
            rec = await self._store.last(stream)
            current = n.Preferences()
            if rec is not None:
                event = rec.decode()
                assert isinstance(event, n.PreferencesChanged)
                current = event.preferences
            wanted = n.validate_preferences(msgspec.structs.replace(current, **changes))
            if wanted == current and rec is not None:
                return current, None
            changed = n.PreferencesChanged(user_id=user_id, preferences=wanted, at=time.time())
            version = NO_STREAM if rec is None else rec.version
            return wanted, await append(self._store, stream, [changed], version)

        return await with_retry(attempt)
