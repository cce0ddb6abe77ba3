"""A conversation's read-model documents as they stood at a past position, folded in memory.

The conversation's own streams (``conversation-``, ``messages-``, ``reads-`` of each member,
``message-`` of each message asked for) are read up to that position and run through the live
projections' ``handle``; the ops are applied to documents in memory (``Docs``) with the same
semantics as the read stores. No rule is written twice: what the live read models would have
held then is what this holds. Folds are kept as snapshots every ``every`` events, so a state at
any position folds at most that many events once the history has been folded once.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from domain import conversations as c
from domain.audit import EventLog
from domain.codec import UnknownEventError
from domain.errors import NotFoundError
from domain.store import RecordedEvent
from projections.conversations import ConversationsProjection
from projections.messages import MessagesProjection
from projections.schema import (
    CONVERSATIONS,
    MEMBERS,
    MESSAGES,
    ConversationDoc,
    ConversationThen,
    Edit,
    MemberDoc,
    MessageThen,
)
from projections.store import Collection, Delete, Op, Patch, Put, apply_patch, as_dict

Doc = dict[str, Any]
D = TypeVar("D")
_ALL = 2**62
_conversations = ConversationsProjection()
_messages = MessagesProjection()


class Docs:
    """Read-model documents in memory, written by projection ops with the port's semantics
    (``apply_patch``, as the adapters apply them), read back as the collection's Structs."""

    def __init__(self) -> None:
        self.colls: dict[str, dict[str, Doc]] = {}

    def apply(self, ops: Iterable[Op]) -> None:
        for op in ops:
            coll = self.colls.setdefault(op.coll, {})
            match op:
                case Put():
                    coll[op.key] = as_dict(op.doc)
                case Patch():
                    doc = apply_patch(coll.get(op.key), op)
                    if doc is not None:
                        coll[op.key] = doc
                case Delete():
                    coll.pop(op.key, None)

    def get(self, coll: Collection[D]) -> dict[str, D]:
        found = self.colls.get(coll.name, {})
        return {k: msgspec.convert(v, coll.doc) for k, v in found.items()}


class _Snapshot:
    """The conversation's documents after folding every event up to ``position``."""

    __slots__ = ("colls", "last_at", "members", "position", "versions")

    def __init__(
        self,
        position: int,
        colls: dict[str, dict[str, Doc]],
        versions: dict[str, int],
        members: dict[int, None],
        last_at: float,
    ) -> None:
        self.position = position
        self.colls = colls  # documents are never changed in place (ops replace them)
        self.versions = versions  # stream -> next version to read
        self.members = members  # everyone who was ever a member (their reads streams)
        self.last_at = last_at


async def _stream(
    log: EventLog, stream: str, until: int, from_version: int = 0
) -> list[RecordedEvent]:
    return await log.stream_page(stream, from_version, _ALL, until)


def _sent(rec: RecordedEvent) -> c.MessageSent:
    event = rec.decode()
    assert isinstance(event, c.MessageSent)
    return event


class TimeTravel:
    def __init__(self, log: EventLog, every: int = 500, size: int = 64) -> None:
        self._log = log
        self._every = every
        self._size = size
        self._folds: dict[int, list[_Snapshot]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def conversation(self, cid: int, position: int) -> ConversationThen:
        """The conversation and its members then (404 when it did not exist yet)."""
        async with self._locks.setdefault(cid, asyncio.Lock()):
            snap = await self._fold_to(cid, position)
        raw = snap.colls.get(CONVERSATIONS.name, {}).get(str(cid))
        if raw is None:
            raise NotFoundError("The conversation did not exist at that point")
        members = [msgspec.convert(d, MemberDoc) for d in snap.colls.get(MEMBERS.name, {}).values()]
        return ConversationThen(
            conversation=msgspec.convert(raw, ConversationDoc),
            members=sorted(members, key=lambda d: (d.joined_at, d.user_id)),
            last_at=snap.last_at,
        )

    async def messages(
        self, cid: int, position: int, after_seq: int, limit: int
    ) -> list[MessageThen]:
        """Messages with seq > ``after_seq`` sent by ``position``, as they were then."""
        page = await self._page(cid, position, after_seq, limit)
        docs = Docs()
        originals: dict[int, str] = {}
        edits: dict[int, list[Edit]] = {}
        for rec in page:
            sent = _sent(rec)
            docs.apply(_messages.handle(sent, rec))
            originals[sent.message_id] = sent.content
            for later in await _stream(self._log, c.message_stream(sent.message_id), position):
                event = later.decode()
                docs.apply(_messages.handle(event, later))
                if isinstance(event, c.MessageEdited):
                    edits.setdefault(sent.message_id, []).append(Edit(event.content, event.at))
        found = sorted(docs.get(MESSAGES).values(), key=lambda d: d.seq)
        return [MessageThen(d, originals[d.id], edits.get(d.id, [])) for d in found]

    async def _fold_to(self, cid: int, position: int) -> _Snapshot:
        snaps = self._folds.pop(cid, None)
        if snaps is None:
            snaps = [_Snapshot(0, {}, {}, {}, 0.0)]
            while len(self._folds) >= self._size:
                self._folds.pop(next(iter(self._folds)))
        self._folds[cid] = snaps  # most recently used last
        base = max((s for s in snaps if s.position <= position), key=lambda s: s.position)
        extending = base is snaps[-1]
        docs = Docs()
        docs.colls = {k: dict(v) for k, v in base.colls.items()}
        versions, members = dict(base.versions), dict(base.members)
        log, conv_stream = self._log, c.conversation_stream(cid)
        head = await _stream(log, conv_stream, position, versions.get(conv_stream, 0))
        for rec in head:
            event = rec.decode()
            if isinstance(event, c.ConversationCreated):
                members.update(dict.fromkeys(event.member_ids))
            elif isinstance(event, c.MemberAdded):
                members.update(dict.fromkeys(event.user_ids))
        streams = [c.messages_stream(cid)] + [c.reads_stream(cid, u) for u in members]
        others = [await _stream(log, s, position, versions.get(s, 0)) for s in streams]
        last_at, folded = base.last_at, 0
        for rec in heapq.merge(head, *others, key=lambda r: r.position):
            try:
                event = rec.decode()
            except UnknownEventError:
                continue
            docs.apply(_conversations.handle(event, rec))
            versions[rec.stream] = rec.version + 1
            last_at = rec.recorded_at
            folded += 1
            if extending and folded % self._every == 0:
                snaps.append(_snap(rec.position, docs, versions, members, last_at))
        return _snap(position, docs, versions, members, last_at)

    async def _page(
        self, cid: int, position: int, after_seq: int, limit: int
    ) -> list[RecordedEvent]:
        """Messages with seq > after_seq, sent by ``position`` (seq n is version n - 1)."""
        out: list[RecordedEvent] = []
        version = after_seq
        while len(out) < limit:
            wanted = limit - len(out)
            recs = await self._log.stream_page(c.messages_stream(cid), version, wanted, position)
            out.extend(r for r in recs if _sent(r).seq > after_seq)
            if len(recs) < wanted:
                break
            version = recs[-1].version + 1
        return out[:limit]


def _snap(
    position: int,
    docs: Docs,
    versions: dict[str, int],
    members: dict[int, None],
    last_at: float,
) -> _Snapshot:
    colls = {k: dict(v) for k, v in docs.colls.items()}
    return _Snapshot(position, colls, dict(versions), dict(members), last_at)
