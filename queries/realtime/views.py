"""Frame data from the read models: Message views (with aliases) and per-viewer Conversations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from domain.conversations import MessageSent, ReadMarked
from domain.events import type_names
from domain.store import RecordedEvent
from domain.users import UserEvent
from projections.schema import (
    CONVERSATIONS,
    MEMBERS,
    MESSAGES,
    USERS,
    ConversationDoc,
    MemberDoc,
    UserDoc,
    member_key,
)
from projections.store import ReadStore
from queries import conversations as qc
from queries.messages import message_views, sent_view

CONVERSATIONS_PROJECTION = "conversations"
_USER_TYPES = type_names(UserEvent)
_MAX_CACHED_USERS = 100_000
Wait = Callable[[], Awaitable[None]]


class ReadModelViews:
    """The pusher's views, read in as few round trips as possible.

    A new message without a file is viewed from its event and its sender, so live push does
    not wait for the projector; senders come from a cache that ``observe`` keeps exact (every
    user event drops its user, and a miss waits for the read models to reach the batch first).
    """

    def __init__(self, read: ReadStore) -> None:
        self._read = read
        self._users: dict[int, UserDoc] = {}

    def observe(self, batch: Sequence[RecordedEvent]) -> None:
        for rec in batch:
            if rec.type in _USER_TYPES:
                user_id = getattr(rec.decode(), "user_id", None)
                self._users.pop(user_id, None)  # type: ignore[arg-type]

    async def sent_messages(
        self, items: Sequence[tuple[RecordedEvent, MessageSent]], wait: Wait
    ) -> dict[int, Any]:
        users = await self._senders([event.sender_id for _, event in items], wait)
        return _with_aliases([sent_view(e, users.get(e.sender_id), None) for _, e in items])

    async def _senders(self, user_ids: Sequence[int], wait: Wait) -> dict[int, UserDoc]:
        cache = self._users
        missing = [str(u) for u in dict.fromkeys(user_ids) if u not in cache]
        if missing:
            await wait()  # the read model then includes every user event seen so far
            if len(cache) > _MAX_CACHED_USERS:
                cache.clear()
            for user in await self._read.get_many(USERS, missing):
                cache[user.id] = user
        return {u: doc for u in user_ids if (doc := cache.get(u)) is not None}

    async def messages(self, message_ids: Sequence[int]) -> dict[int, Any]:
        docs = await self._read.get_many(MESSAGES, [str(i) for i in message_ids])
        return _with_aliases(await message_views(self._read, docs))

    async def conversations(self, conversation_id: int, viewers: Sequence[int]) -> dict[int, Any]:
        read = self._read
        conv = await read.get(CONVERSATIONS, str(conversation_id))
        if conv is None or not viewers:
            return {}
        keys = [member_key(conversation_id, v) for v in viewers]
        members = {m.user_id: m for m in await read.get_many(MEMBERS, keys)}
        if conv.type == "single":  # the name is the other person's: one view per viewer
            out: dict[int, Any] = {}
            for v in viewers:
                pair = (conv, members.get(v) or _no_membership(conv, v))
                out[v] = (await qc.views(read, [pair], v))[0]
            return out
        (base,) = await qc.views(read, [(conv, _no_membership(conv, 0))], viewers[0])
        return {
            v: _as_seen_by(base, conv, members.get(v) or _no_membership(conv, v)) for v in viewers
        }

    async def newly_read(self, event: ReadMarked, cap: int) -> list[int]:
        seq = {"$gt": event.previous_seq, "$lte": event.seq}
        where = {
            "conversation_id": event.conversation_id,
            "seq": seq,
            "sender_id": {"$ne": event.user_id},
        }
        return [d.id for d in await self._read.find(MESSAGES, where, [("seq", -1)], 0, cap)]


def _no_membership(conv: ConversationDoc, user_id: int) -> MemberDoc:
    """A viewer without a membership document: everything counts as unread, nothing cleared."""
    return MemberDoc(conversation_id=conv.id, user_id=user_id)


def _with_aliases(views: Sequence[Any]) -> dict[int, Any]:
    """Message views as frame data: plus ``message_id`` and ``timestamp`` (the web client's)."""
    out: dict[int, Any] = {}
    for view in views:
        data = msgspec.to_builtins(view)
        data["message_id"] = view.id
        data["timestamp"] = view.created_at
        out[view.id] = data
    return out


def _as_seen_by(base: qc.Conversation, conv: ConversationDoc, member: MemberDoc) -> Any:
    """A group's view with the viewer's own unread count and cleared history applied."""
    last = base.last_message if conv.last_seq > member.cleared_seq else None
    unread = qc.unread_of(conv, member)
    return msgspec.structs.replace(base, unread_count=unread, last_message=last)


async def no_snapshot() -> tuple[list[tuple[int, int]], int]:
    """No read model to start from: the pusher reads the membership events from the start."""
    return [], 0


async def membership_snapshot(read: ReadStore) -> tuple[list[tuple[int, int]], int]:
    """Every (conversation id, user id) membership, and a position it is valid from.

    The checkpoint is read first: the documents are at least that new, and replaying the
    membership events after it converges each pair to its latest value (see ``Pusher.start``).
    """
    position = await read.checkpoint(CONVERSATIONS_PROJECTION)
    docs = await read.find(MEMBERS)
    return [(d.conversation_id, d.user_id) for d in docs], position
