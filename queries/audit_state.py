"""Time travel: a conversation exactly as it stood at a past position.

The conversation's own streams (``conversation-``, ``messages-``, ``reads-`` of each member,
``message-`` of each message on the page) are read up to that position and run through the
live projections' ``handle`` in memory (``Docs``), then rendered by the live views. No rule is
written twice: what the live read models would have said then is what this says.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from domain import conversations as c
from domain.audit import EventLog, iso
from domain.codec import UnknownEventError
from domain.errors import NotFoundError
from domain.store import RecordedEvent
from projections.conversations import ConversationsProjection
from projections.messages import MessagesProjection
from projections.schema import CONVERSATIONS, MEMBERS, MESSAGES, ConversationDoc, MemberDoc
from projections.store import Collection, Delete, Op, Patch, Put, ReadStore, apply_patch, as_dict
from queries.conversations import Member, member_view
from queries.messages import Message, message_views, users_by_id

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


class Edit(msgspec.Struct):
    content: str
    at: str


class AuditMessage(Message):
    """The message as it was then, with what only auditors see: every text it ever had."""

    original_content: str = ""
    edits: list[Edit] = []


class AuditConversation(msgspec.Struct):
    id: int
    type: str
    name: str
    description: str | None
    avatar: str | None
    status: str
    creator_id: int
    owner_id: int | None
    member_ids: list[int]
    max_members: int
    allow_invite: bool
    allow_member_modify: bool
    is_public: bool
    created_at: str
    updated_at: str
    last_seq: int
    last_message_id: int | None
    last_message_at: str | None


class AuditMember(msgspec.Struct):
    user_id: int
    role: str
    status: str
    muted_until: str | None
    joined_at: str
    last_read_seq: int
    nickname: str | None = None


class ConversationState(msgspec.Struct):
    conversation: AuditConversation
    members: list[AuditMember]
    messages: list[AuditMessage]
    position: int
    at: str


def _fold(docs: Docs, recs: Iterable[RecordedEvent], projection: Any) -> None:
    for rec in recs:
        try:
            event = rec.decode()
        except UnknownEventError:
            continue
        docs.apply(projection.handle(event, rec))


async def _stream(
    log: EventLog, stream: str, until: int, from_version: int = 0
) -> list[RecordedEvent]:
    return await log.stream_page(stream, from_version, _ALL, until)


class _Snapshot:
    """The conversation's documents after folding every event up to ``position``."""

    __slots__ = ("position", "colls", "versions", "members", "last_at")

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


class TimeTravel:
    """Folds of conversations kept in memory as snapshots every ``every`` events, so a state at
    any position folds at most that many events after the first request folded the history."""

    def __init__(self, log: EventLog, read: ReadStore, every: int = 2000, size: int = 64) -> None:
        self._log = log
        self._read = read
        self._every = every
        self._size = size
        self._folds: dict[int, list[_Snapshot]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    async def state(
        self, cid: int, position: int, at_time: float | None, after_seq: int = 0, limit: int = 50
    ) -> ConversationState:
        """``at_time``: the instant asked for (None when a position was: then the time of the
        conversation's last event up to it); mutes are judged at that instant."""
        lock = self._locks.setdefault(cid, asyncio.Lock())
        async with lock:
            snap = await self._fold_to(cid, position)
        raw = snap.colls.get(CONVERSATIONS.name, {}).get(str(cid))
        if raw is None:
            raise NotFoundError("The conversation did not exist at that point")
        conv = msgspec.convert(raw, CONVERSATIONS.doc)
        when = snap.last_at if at_time is None else at_time
        members = [msgspec.convert(d, MemberDoc) for d in snap.colls.get(MEMBERS.name, {}).values()]
        ordered = sorted(members, key=lambda d: (d.joined_at, d.user_id))
        page = await self._page(cid, position, after_seq, limit)
        return ConversationState(
            conversation=_conversation(conv),
            members=[_member(d, when) for d in ordered],
            messages=await _messages_then(self._log, self._read, page, position),
            position=position,
            at=iso(when),
        )

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
                snaps.append(self._snap(rec.position, docs, versions, members, last_at))
        return self._snap(position, docs, versions, members, last_at)

    @staticmethod
    def _snap(
        position: int,
        docs: Docs,
        versions: dict[str, int],
        members: dict[int, None],
        last_at: float,
    ) -> _Snapshot:
        colls = {k: dict(v) for k, v in docs.colls.items()}
        return _Snapshot(position, colls, dict(versions), dict(members), last_at)

    async def _page(
        self, cid: int, position: int, after_seq: int, limit: int
    ) -> list[RecordedEvent]:
        """Messages with seq > after_seq, sent by ``position`` (seq n is version n - 1)."""
        out: list[RecordedEvent] = []
        version = after_seq
        while len(out) < limit:
            wanted = limit - len(out)
            recs = await self._log.stream_page(c.messages_stream(cid), version, wanted, position)
            out.extend(r for r in recs if _seq(r) > after_seq)
            if len(recs) < wanted:
                break
            version = recs[-1].version + 1
        return out[:limit]


async def state_at(
    log: EventLog,
    read: ReadStore,
    cid: int,
    position: int,
    at_time: float | None,
    after_seq: int = 0,
    limit: int = 50,
) -> ConversationState:
    """One state, folded from scratch (the CLI; the server keeps a ``TimeTravel``)."""
    return await TimeTravel(log, read).state(cid, position, at_time, after_seq, limit)


def _seq(rec: RecordedEvent) -> int:
    event = rec.decode()
    assert isinstance(event, c.MessageSent)
    return event.seq


def _conversation(d: ConversationDoc) -> AuditConversation:
    return AuditConversation(
        id=d.id,
        type=d.type,
        name=d.name,
        description=d.description,
        avatar=d.avatar,
        status=d.status,
        creator_id=d.creator_id,
        owner_id=d.owner_id,
        member_ids=list(d.member_ids),
        max_members=d.max_members,
        allow_invite=d.allow_invite,
        allow_member_modify=d.allow_member_modify,
        is_public=d.is_public,
        created_at=iso(d.created_at),
        updated_at=iso(d.updated_at),
        last_seq=d.last_seq,
        last_message_id=d.last_message_id,
        last_message_at=iso(d.last_message_at) if d.last_message_at else None,
    )


def _member(d: MemberDoc, now: float) -> AuditMember:
    view: Member = member_view(d, None, now)
    return AuditMember(
        user_id=view.user_id,
        role=view.role,
        status=view.status,
        muted_until=view.muted_until,
        joined_at=view.joined_at,
        last_read_seq=view.last_read_seq,
        nickname=view.nickname,
    )


async def _messages_then(
    log: EventLog, read: ReadStore, page: list[RecordedEvent], position: int
) -> list[AuditMessage]:
    docs = Docs()
    _fold(docs, page, _messages)
    originals: dict[int, str] = {}
    edits: dict[int, list[Edit]] = {}
    for rec in page:
        sent = rec.decode()
        assert isinstance(sent, c.MessageSent)
        originals[sent.message_id] = sent.content
        later = await _stream(log, c.message_stream(sent.message_id), position)
        _fold(docs, later, _messages)
        for r in later:
            ev = r.decode()
            if isinstance(ev, c.MessageEdited):
                edits.setdefault(sent.message_id, []).append(Edit(ev.content, iso(ev.at)))
    ordered = sorted(docs.get(MESSAGES).values(), key=lambda d: d.seq)
    users = await users_by_id(read, [d.sender_id for d in ordered])
    views = await message_views(read, ordered, users)
    return [
        AuditMessage(
            **msgspec.structs.asdict(v),
            original_content=originals[v.id],
            edits=edits.get(v.id, []),
        )
        for v in views
    ]
