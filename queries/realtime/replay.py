"""Resume: the events a user missed after a position, in order, as the user saw membership then."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from domain.store import EventStore, RecordedEvent
from queries.realtime.frames import Frame
from queries.realtime.pusher import Views, decode_routed, frames_for, message_views
from queries.realtime.routing import MEMBERSHIP_TYPES, Route, UserMembership, membership_before

Emit = Callable[[Frame], Awaitable[None]]


async def _between(
    events: EventStore, after: int, until: int, types: frozenset[str] | None = None
) -> AsyncIterator[list[RecordedEvent]]:
    """Batches of events with ``after < position <= until`` (optionally only some types)."""
    if until <= after:
        return
    stream = events.subscribe(after)
    async with contextlib.aclosing(stream):  # type: ignore[type-var]
        async for batch in stream:
            chosen = [
                r for r in batch if r.position <= until and (types is None or r.type in types)
            ]
            if chosen:
                yield chosen
            if batch[-1].position >= until:
                return


async def replay(
    events: EventStore,
    views: Views,
    user_id: int,
    after: int,
    until: int,
    conversations_at_until: set[int],
    emit: Emit,
) -> int:
    """Emit the user's frames for ``after < position <= until``; returns how many were sent.

    Two passes over the backlog: the first finds the user's membership changes in it, which give
    the membership at ``after``; the second follows membership forward event by event, so an
    event reaches the user exactly when they were a member at that point.
    """
    changes: list[Route] = []
    async for batch in _between(events, after, until, MEMBERSHIP_TYPES):
        for _, _, r in decode_routed(batch):
            if user_id in r.joins or user_id in r.leaves:
                changes.append(r)
    mine = UserMembership(user_id, membership_before(user_id, conversations_at_until, changes))
    sent = 0
    async for batch in _between(events, after, until):
        routed = [x for x in decode_routed(batch) if mine.concerns(x[2])]
        messages = await message_views(views, routed)
        for rec, event, r in routed:
            for _, frame in await frames_for(rec, event, r, (user_id,), views, messages):
                await emit(frame)
                sent += 1
    return sent
