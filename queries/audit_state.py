"""Time travel, rendered: a conversation as it stood at a past position, in the live views.

The documents come from ``projections.time_travel`` (the live projections folded in memory);
the views are the live ones (``member_view``, ``message_views``) plus what only auditors see.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from domain.audit import iso
from projections.schema import ConversationDoc, ConversationThen, MemberDoc, MessageThen
from projections.store import ReadStore
from queries.conversations import Member, member_view
from queries.messages import Message, message_views, users_by_id


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


class Folds(Protocol):
    """``projections.time_travel.TimeTravel``: the live projections folded in memory."""

    async def conversation(self, cid: int, position: int) -> ConversationThen: ...

    async def messages(
        self, cid: int, position: int, after_seq: int, limit: int
    ) -> list[MessageThen]: ...


async def state_at(
    travel: Folds,
    read: ReadStore,
    cid: int,
    position: int,
    at_time: float | None,
    after_seq: int = 0,
    limit: int = 50,
) -> ConversationState:
    """``at_time``: the instant asked for (None when a position was: then the time of the
    conversation's last event up to it); mutes are judged at that instant."""
    then = await travel.conversation(cid, position)
    when = then.last_at if at_time is None else at_time
    page = await travel.messages(cid, position, after_seq, limit)
    users = await users_by_id(read, [m.doc.sender_id for m in page])
    views = await message_views(read, [m.doc for m in page], users)
    return ConversationState(
        conversation=_conversation(then.conversation),
        members=[_member(d, when) for d in then.members],
        messages=[
            AuditMessage(
                **msgspec.structs.asdict(v),
                original_content=m.original_content,
                edits=[Edit(e.content, iso(e.at)) for e in m.edits],
            )
            for v, m in zip(views, page, strict=True)
        ],
        position=position,
        at=iso(when),
    )
