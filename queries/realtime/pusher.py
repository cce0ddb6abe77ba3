"""The live pusher: one event-store subscription per process, fanned out to connected users."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import msgspec

from domain.codec import UnknownEventError
from domain.conversations import MessageEdited, MessageRecalled, MessageSent, ReadMarked
from domain.events import Event
from domain.store import EventStore, RecordedEvent
from domain.users import UserActivationChanged
from queries.realtime.frames import Frame, make_frame
from queries.realtime.membership import MembershipIndex
from queries.realtime.routing import MARK_READ_MAX_IDS, ROUTED_TYPES, Route, route

log = logging.getLogger("im.pusher")

Routed = tuple[RecordedEvent, Event, Route]
WaitFor = Callable[[int], Awaitable[bool]]
SentHook = Callable[[int, int], None]
"""Told (conversation id, sender id) of each live message after its frames are delivered."""
MembershipSource = Callable[[], Awaitable[tuple[Iterable[tuple[int, int]], int]]]
"""Returns (conversation id, user id) pairs and the position they are valid at (0: none)."""


class Views(Protocol):
    """Frame data: from read models (which already include the events being pushed) or, for a
    new message, from its event."""

    def observe(self, batch: Sequence[RecordedEvent]) -> None:
        """See every event in order (to keep caches exact)."""
        ...

    async def sent_messages(
        self,
        items: Sequence[tuple[RecordedEvent, MessageSent]],
        wait: Callable[[], Awaitable[None]],
    ) -> dict[int, Any]:
        """Views of just-sent messages without a file, from their events; ``wait`` brings the
        read models up to them when something must be read."""
        ...

    async def messages(self, message_ids: Sequence[int]) -> dict[int, Any]:
        """Message views (with the frame's aliases) by id; unknown ids are left out."""
        ...

    async def conversations(self, conversation_id: int, viewers: Sequence[int]) -> dict[int, Any]:
        """The Conversation view as each viewer sees it, by viewer id."""
        ...

    async def newly_read(self, event: ReadMarked, cap: int) -> list[int]:
        """Ids of the messages from others that the read mark newly read (newest ``cap``)."""
        ...


class Sink(Protocol):
    """Where frames go: this process's connections. Must not block (it only enqueues)."""

    def deliver(self, user_ids: Iterable[int], frame: Frame) -> None: ...

    def deliver_everyone(self, frame: Frame) -> None: ...

    def connected(self, user_ids: Iterable[int]) -> list[int]: ...

    def end_sessions(self, user_id: int, reason: str) -> None:
        """Close every connection of this user (their access ended)."""
        ...


def deactivated_users(batch: Sequence[RecordedEvent], after: int) -> list[int]:
    """Users deactivated by the batch's events after position ``after``."""
    out: list[int] = []
    for rec in batch:
        if rec.type != "UserActivationChanged" or rec.position <= after:
            continue
        try:
            event = rec.decode()
        except UnknownEventError:
            continue
        if isinstance(event, UserActivationChanged) and not event.is_active:
            out.append(event.user_id)
    return out


def decode_routed(batch: Sequence[RecordedEvent]) -> list[Routed]:
    """The batch's pushable events; other types are skipped without decoding."""
    out: list[Routed] = []
    for rec in batch:
        if rec.type not in ROUTED_TYPES:
            continue
        try:
            event = rec.decode()
        except UnknownEventError:
            continue
        r = route(event)
        if r is not None:
            out.append((rec, event, r))
    return out


def event_time(rec: RecordedEvent, event: Event) -> float:
    at = getattr(event, "at", 0.0)
    return at if isinstance(at, float) and at > 0 else rec.recorded_at


async def message_views(views: Views, routed: Sequence[Routed]) -> dict[int, Any]:
    ids = [r.view.id for _, _, r in routed if r.view is not None and r.view.kind == "message"]
    return await views.messages(list(dict.fromkeys(ids))) if ids else {}


async def frames_for(
    rec: RecordedEvent,
    event: Event,
    r: Route,
    users: Sequence[int],
    views: Views,
    messages: dict[int, Any],
) -> list[tuple[Sequence[int], Frame]]:
    """The frames of one routed event for ``users``: one shared frame, or one per viewer."""
    at, pos = event_time(rec, event), rec.position
    if r.view is None:
        return [(users, make_frame(r.kind, r.data, at, pos))]
    if r.view.kind == "message":
        data = messages.get(r.view.id)
        return [] if data is None else [(users, make_frame(r.kind, data, at, pos))]
    if r.view.kind == "read":
        assert isinstance(event, ReadMarked)
        ids = await views.newly_read(event, MARK_READ_MAX_IDS)
        return [(users, make_frame(r.kind, {**r.data, "message_ids": ids}, at, pos))]
    per_viewer = await views.conversations(r.view.id, users)
    if r.kind == "conversation_created":
        per_viewer = {uid: created_data(view) for uid, view in per_viewer.items()}
    return [((uid,), make_frame(r.kind, view, at, pos)) for uid, view in per_viewer.items()]


def created_data(view: Any) -> dict[str, Any]:
    """A ``conversation_created`` frame: the Conversation plus the names the web client toasts
    ("{creator_name} 创建了会话: {conversation_name}") and the ids it reads."""
    data: dict[str, Any] = msgspec.to_builtins(view)
    people = data.get("participants") or []
    data["conversation_id"] = data["id"]
    data["conversation_type"] = data["type"]
    data["conversation_name"] = data["name"]
    data["creator_name"] = next((p["name"] for p in people if p["id"] == data["creator_id"]), None)
    data["participant_ids"] = [p["id"] for p in people]
    return data


class Pusher:
    """Follows the store from start-up, keeps the membership index, delivers every frame.

    A follower (``projections.follower`` drives it). ``lock`` is held while a batch is
    delivered: a connection that registers under it sees a consistent cut (everything up to
    ``position`` is history, everything after comes live).
    """

    name = "pusher"

    def __init__(
        self,
        events: EventStore,
        views: Views,
        sink: Sink,
        wait_for: WaitFor,
        membership: MembershipSource,
    ) -> None:
        self._events = events
        self._views = views
        self._sink = sink
        self._wait_for = wait_for
        self._membership = membership
        self.on_sent: SentHook | None = None
        self.on_pushed: Callable[[float], None] | None = None
        """Told the ``recorded_at`` of each live event once its frames are queued (metrics)."""
        self.index = MembershipIndex()
        self.lock = asyncio.Lock()
        self.position = 0
        self.start_head = 0
        self.delivered_events = 0
        self._ready = asyncio.Event()

    async def start_at(self) -> int:
        self.start_head = await self._events.head()
        pairs, valid_at = await self._membership()
        self.index.load(pairs)
        self.position = valid_at
        if self.position >= self.start_head:
            self._ready.set()
        return self.position

    async def ready(self) -> None:
        """Wait until the index has caught up with the head seen at start-up."""
        await self._ready.wait()

    async def resume(self) -> None:
        return None

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        await self.process(batch)

    async def settle(self) -> None:
        return None  # nothing durable: a restart starts from the head again

    async def process(self, batch: Sequence[RecordedEvent]) -> None:
        last = batch[-1].position
        self._views.observe(batch)
        routed = decode_routed(batch)
        live = [x for x in routed if x[0].position > self.start_head]
        messages = await self._live_messages(live, last)
        if any(r.view is not None and r.view.kind != "message" for _, _, r in live):
            await self._caught_up(last)
        async with self.lock:
            for rec, event, r in routed:
                self.index.before(r)
                if rec.position > self.start_head:
                    await self._deliver(rec, event, r, messages)
                    if self.on_sent is not None and isinstance(event, MessageSent):
                        self.on_sent(event.conversation_id, event.sender_id)
                    if self.on_pushed is not None:
                        self.on_pushed(rec.recorded_at)
                self.index.after(r)
            self.position = last
            for user_id in deactivated_users(batch, self.start_head):
                self._sink.end_sessions(user_id, "the account was deactivated")
        if last >= self.start_head:
            self._ready.set()

    async def _caught_up(self, position: int) -> None:
        while not await self._wait_for(position):
            log.warning("pusher waiting for the read models to reach %d", position)

    async def _live_messages(self, live: Sequence[Routed], last: int) -> dict[int, Any]:
        """New text messages from their events; the rest (edits, recalls, files) from the read
        models once they include this batch."""
        changed = {
            e.message_id for _, e, _ in live if isinstance(e, MessageEdited | MessageRecalled)
        }
        fresh = [
            (rec, e)
            for rec, e, _ in live
            if isinstance(e, MessageSent) and not e.file_id and e.message_id not in changed
        ]
        fresh_ids = {e.message_id for _, e in fresh}
        stored = [
            r.view.id
            for _, _, r in live
            if r.view is not None and r.view.kind == "message" and r.view.id not in fresh_ids
        ]
        out: dict[int, Any] = {}
        if fresh:
            out.update(await self._views.sent_messages(fresh, lambda: self._caught_up(last)))
        if stored:
            await self._caught_up(last)
            out.update(await self._views.messages(list(dict.fromkeys(stored))))
        return out

    async def _deliver(
        self, rec: RecordedEvent, event: Event, r: Route, messages: dict[int, Any]
    ) -> None:
        self.delivered_events += 1
        if r.everyone:
            for _, frame in await frames_for(rec, event, r, (), self._views, messages):
                self._sink.deliver_everyone(frame)
            return
        audience: set[int] = set(r.users)
        if r.members:
            audience |= self.index.members(r.conversation_id)
        users = self._sink.connected(audience)
        if not users:
            return
        for to, frame in await frames_for(rec, event, r, users, self._views, messages):
            self._sink.deliver(to, frame)
