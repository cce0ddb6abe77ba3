"""Time travel: a conversation exactly as it stood at a past position.

The conversation's own streams (``conversation-``, ``messages-``, ``reads-`` of each member,
``message-`` of each message on the page) are read up to that position and run through the
live projections' ``handle`` in memory (``Docs``), then rendered by the live views. No rule is
written twice: what the live read models would have said then is what this says.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Any

import msgspec

from domain import conversations as c
from domain.audit import EventLog, iso
from domain.codec import UnknownEventError
from domain.errors import NotFoundError
from domain.store import RecordedEvent
from projections.conversations import CONVERSATIONS, MEMBERS, ConversationsProjection
from projections.messages import MESSAGES, MessagesProjection
from projections.store import Delete, Op, Patch, Put, ReadStore, apply_patch
from queries.conversations import Member, member_view
from queries.messages import Message, message_views, users_by_id

Doc = dict[str, Any]
_ALL = 2**62
_conversations = ConversationsProjection()
_messages = MessagesProjection()


class Docs:
    """Read-model documents in memory, written by projection ops with the port's semantics."""

    def __init__(self) -> None:
        self.colls: dict[str, dict[str, Doc]] = {}

    def apply(self, ops: Iterable[Op]) -> None:
        for op in ops:
            coll = self.colls.setdefault(op.coll, {})
            match op:
                case Put():
                    coll[op.key] = dict(op.doc)
                case Patch():
                    doc = apply_patch(coll.get(op.key), op)
                    if doc is not None:
                        coll[op.key] = doc
                case Delete():
                    coll.pop(op.key, None)

    def get(self, coll: str) -> dict[str, Doc]:
        return self.colls.get(coll, {})


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


async def _stream(log: EventLog, stream: str, until: int) -> list[RecordedEvent]:
    return await log.stream_page(stream, 0, _ALL, until)


async def state_at(
    log: EventLog,
    read: ReadStore,
    cid: int,
    position: int,
    at_time: float | None,
    after_seq: int = 0,
    limit: int = 50,
) -> ConversationState:
    """``at_time``: the instant asked for (None when a position was: then the time of the
    conversation's last event up to it); mutes are judged at that instant."""
    head = await _stream(log, c.conversation_stream(cid), position)
    if not head:
        raise NotFoundError("The conversation did not exist at that point")
    ever: dict[int, None] = {}
    for rec in head:
        event = rec.decode()
        if isinstance(event, c.ConversationCreated):
            ever.update(dict.fromkeys(event.member_ids))
        elif isinstance(event, c.MemberAdded):
            ever.update(dict.fromkeys(event.user_ids))
    reads = [await _stream(log, c.reads_stream(cid, u), position) for u in ever]
    sent = await _stream(log, c.messages_stream(cid), position)
    docs = Docs()
    merged = heapq.merge(head, sent, *reads, key=lambda r: r.position)
    _fold(docs, merged, _conversations)
    conv = docs.get(CONVERSATIONS).get(str(cid))
    if conv is None:
        raise NotFoundError("The conversation did not exist at that point")
    if at_time is None:
        at_time = max(r.recorded_at for r in [*head[-1:], *sent[-1:], *(r[-1] for r in reads if r)])
    members = sorted(docs.get(MEMBERS).values(), key=lambda d: (d["joined_at"], d["user_id"]))
    page = [r for r in sent if _seq(r) > after_seq][:limit]
    return ConversationState(
        conversation=_conversation(conv),
        members=[_member(d, at_time) for d in members],
        messages=await _messages_then(log, read, page, position),
        position=position,
        at=iso(at_time),
    )


def _seq(rec: RecordedEvent) -> int:
    event = rec.decode()
    assert isinstance(event, c.MessageSent)
    return event.seq


def _conversation(d: Doc) -> AuditConversation:
    return AuditConversation(
        id=d["id"],
        type=d["type"],
        name=d["name"],
        description=d.get("description"),
        avatar=d.get("avatar"),
        status=d["status"],
        creator_id=d["creator_id"],
        owner_id=d.get("owner_id"),
        member_ids=list(d.get("member_ids") or []),
        max_members=d["max_members"],
        allow_invite=d["allow_invite"],
        allow_member_modify=d["allow_member_modify"],
        is_public=d["is_public"],
        created_at=iso(d["created_at"]),
        updated_at=iso(d["updated_at"]),
        last_seq=d["last_seq"],
        last_message_id=d.get("last_message_id"),
        last_message_at=iso(d["last_message_at"]) if d.get("last_message_at") else None,
    )


def _member(d: Doc, now: float) -> AuditMember:
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
    ordered = sorted(docs.get(MESSAGES).values(), key=lambda d: d["seq"])
    users = await users_by_id(read, [d["sender_id"] for d in ordered])
    views = await message_views(read, ordered, users)
    return [
        AuditMessage(
            **msgspec.structs.asdict(v),
            original_content=originals[v.id],
            edits=edits.get(v.id, []),
        )
        for v in views
    ]
