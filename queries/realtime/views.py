"""Frame data from the read models: Message views (with aliases) and per-viewer Conversations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from domain.conversations import MessageSent, ReadMarked
from domain.store import RecordedEvent
from projections.conversations import CONVERSATIONS, MEMBERS, member_key
from projections.messages import MESSAGES, MessagesProjection
from projections.store import Collection, Doc, Order, ProjectionBatch, Put, ReadStore, Where
from projections.users import USERS
from queries import conversations as qc
from queries.messages import message_views

CONVERSATIONS_PROJECTION = "conversations"
_NO_MEMBERSHIP = {"last_read_seq": 0, "cleared_seq": 0, "hidden_seq": None}
_USER_TYPES = frozenset(
    {"UserRegistered", "UserRenamed", "UserActivationChanged", "UserSuperuserChanged"}
)
_MAX_CACHED_USERS = 100_000
_messages_projection = MessagesProjection()
Wait = Callable[[], Awaitable[None]]


class ReadModelViews:
    """The pusher's views, read in as few round trips as possible.

    A new text message's view is built from its event (the messages projection's own document
    for it, joined with its sender), so live push does not wait for the projector; senders come
    from a cache that ``observe`` keeps exact (every user event drops its user, and a miss waits
    for the read models to reach the batch first).
    """

    def __init__(self, read: ReadStore) -> None:
        self._read = read
        self._users: dict[int, Doc] = {}

    def observe(self, batch: Sequence[RecordedEvent]) -> None:
        for rec in batch:
            if rec.type in _USER_TYPES:
                user_id = getattr(rec.decode(), "user_id", None)
                self._users.pop(user_id, None)  # type: ignore[arg-type]

    async def sent_messages(
        self, items: Sequence[tuple[RecordedEvent, MessageSent]], wait: Wait
    ) -> dict[int, Any]:
        docs: list[Doc] = []
        for rec, event in items:
            for op in _messages_projection.handle(event, rec):
                if isinstance(op, Put) and op.coll == MESSAGES:
                    docs.append(op.doc)
        users = _CachedUsers(self._read, self._users, wait)
        return _with_aliases(await message_views(users, docs))

    async def messages(self, message_ids: Sequence[int]) -> dict[int, Any]:
        docs = await self._read.get_many(MESSAGES, [str(i) for i in message_ids])
        return _with_aliases(await message_views(self._read, docs))

    async def conversations(self, conversation_id: int, viewers: Sequence[int]) -> dict[int, Any]:
        read = self._read
        conv = await read.get(CONVERSATIONS, str(conversation_id))
        if conv is None or not viewers:
            return {}
        keys = [member_key(conversation_id, v) for v in viewers]
        members = {m["user_id"]: m for m in await read.get_many(MEMBERS, keys)}
        if conv["type"] == "single":  # the name is the other person's: one view per viewer
            out: dict[int, Any] = {}
            for v in viewers:
                pair = (conv, members.get(v, _NO_MEMBERSHIP))
                out[v] = (await qc.views(read, [pair], v))[0]
            return out
        (base,) = await qc.views(read, [(conv, _NO_MEMBERSHIP)], viewers[0])
        return {v: _as_seen_by(base, conv, members.get(v, _NO_MEMBERSHIP)) for v in viewers}

    async def newly_read(self, event: ReadMarked, cap: int) -> list[int]:
        seq = {"$gt": event.previous_seq, "$lte": event.seq}
        where = {
            "conversation_id": event.conversation_id,
            "seq": seq,
            "sender_id": {"$ne": event.user_id},
        }
        return [d["id"] for d in await self._read.find(MESSAGES, where, [("seq", -1)], 0, cap)]


def _with_aliases(views: Sequence[Any]) -> dict[int, Any]:
    """Message views as frame data: plus ``message_id`` and ``timestamp`` (the web client's)."""
    out: dict[int, Any] = {}
    for view in views:
        data = msgspec.to_builtins(view)
        data["message_id"] = view.id
        data["timestamp"] = view.created_at
        out[view.id] = data
    return out


def _as_seen_by(base: qc.Conversation, conv: dict[str, Any], member: dict[str, Any]) -> Any:
    """A group's view with the viewer's own unread count and cleared history applied."""
    last = base.last_message if conv["last_seq"] > member["cleared_seq"] else None
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
    return [(d["conversation_id"], d["user_id"]) for d in docs], position


class _CachedUsers:
    """A read store that answers user lookups from the pusher's cache (a ``ReadStore``)."""

    def __init__(self, read: ReadStore, cache: dict[int, Doc], wait: Wait) -> None:
        self._read = read
        self._cache = cache
        self._wait = wait

    async def get_many(self, coll: str, keys: Sequence[str]) -> list[Doc]:
        if coll != USERS:
            return await self._read.get_many(coll, keys)
        missing = [k for k in keys if int(k) not in self._cache]
        if missing:
            await self._wait()  # the read model then includes every user event seen so far
            if len(self._cache) > _MAX_CACHED_USERS:
                self._cache.clear()
            for doc in await self._read.get_many(USERS, missing):
                self._cache[doc["id"]] = doc
        return [d for k in keys if (d := self._cache.get(int(k))) is not None]

    async def get(self, coll: str, key: str) -> Doc | None:
        docs = await self.get_many(coll, [key])
        return docs[0] if docs else None

    async def declare(self, collections: Sequence[Collection]) -> None:
        await self._read.declare(collections)

    async def apply(self, batches: Sequence[ProjectionBatch]) -> None:
        await self._read.apply(batches)

    async def checkpoint(self, projection: str) -> int:
        return await self._read.checkpoint(projection)

    async def save_checkpoint(self, projection: str, position: int) -> None:
        await self._read.save_checkpoint(projection, position)

    async def reset(self, projection: str, collections: Sequence[str]) -> None:
        await self._read.reset(projection, collections)

    async def find(
        self,
        coll: str,
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[Doc]:
        return await self._read.find(coll, where, order, skip, limit)

    async def count(self, coll: str, where: Where | None = None) -> int:
        return await self._read.count(coll, where)

    async def search(
        self,
        coll: str,
        text: str,
        where: Where | None = None,
        order: Order = (),
        skip: int = 0,
        limit: int | None = None,
    ) -> list[Doc]:
        return await self._read.search(coll, text, where, order, skip, limit)

    async def close(self) -> None:
        await self._read.close()
