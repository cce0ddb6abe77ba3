"""Conversation reads: the caller's list, details, members, unread counts, stats, group search."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import msgspec

from domain.errors import NotFoundError
from projections.schema import (
    CONVERSATIONS,
    GROUP_DIRECTORY,
    INVITES,
    MEMBERS,
    MESSAGES,
    ConversationDoc,
    MemberDoc,
    MessageDoc,
    UserDoc,
    member_key,
)
from projections.store import ReadStore
from queries.messages import Message, membership, message_views, users_by_id
from queries.views import iso

ACTIVE_DAYS = 7


class Participant(msgspec.Struct):
    id: int
    standard_id: str
    name: str
    is_active: bool


class Conversation(msgspec.Struct):
    id: int
    type: str
    name: str
    description: str | None
    avatar: str | None
    max_members: int
    allow_invite: bool
    allow_member_modify: bool
    is_public: bool
    status: str
    creator_id: int
    created_at: str
    updated_at: str
    member_count: int
    participants: list[Participant]
    last_seq: int
    last_message: Message | None
    last_message_at: str | None
    unread_count: int


class Member(msgspec.Struct):
    id: int
    conversation_id: int
    user_id: int
    user_name: str | None
    user_standard_id: str | None
    role: str
    status: str
    nickname: str | None
    muted_until: str | None
    joined_at: str
    last_read_seq: int


class UnreadCount(msgspec.Struct):
    unread_count: int
    conversation_id: int | None


class GroupStats(msgspec.Struct):
    conversation_id: int
    member_count: int
    admin_count: int
    message_count: int
    active_members: int
    created_at: str
    last_message_at: str | None


class PublicGroup(msgspec.Struct):
    id: int
    name: str
    description: str | None
    avatar: str | None
    member_count: int


def unread_of(conv: ConversationDoc, member: MemberDoc) -> int:
    """Messages from others above the watermark (own messages move the watermark)."""
    return max(0, conv.last_seq - max(member.last_read_seq, member.cleared_seq))


def visible(conv: ConversationDoc, member: MemberDoc) -> bool:
    hidden = member.hidden_seq
    return hidden is None or conv.last_seq > hidden


def no_membership(conv: ConversationDoc, user_id: int) -> MemberDoc:
    """A stand-in for a viewer who is not (or no longer) a member: nothing unread, nothing
    cleared."""
    return MemberDoc(conversation_id=conv.id, user_id=user_id, last_read_seq=conv.last_seq)


async def views(
    read: ReadStore, pairs: Sequence[tuple[ConversationDoc, MemberDoc]], viewer: int
) -> list[Conversation]:
    """Views for (conversation, viewer's membership) pairs: the last messages and the people
    are read concurrently, one batched read each."""
    last_ids = [str(c.last_message_id) for c, m in pairs if _last_visible(c, m)]
    member_ids = {u for c, _ in pairs for u in c.member_ids}
    last_docs, users = await asyncio.gather(
        read.get_many(MESSAGES, last_ids) if last_ids else _nothing(),
        users_by_id(read, list(member_ids)),
    )
    last = {v.id: v for v in await message_views(read, last_docs, users)}
    people_of = {uid: _participant(u) for uid, u in users.items()}
    out: list[Conversation] = []
    for c, m in pairs:
        people = [p for uid in c.member_ids if (p := people_of.get(uid)) is not None]
        created = iso(c.created_at) or ""
        last_message = (
            last.get(c.last_message_id)
            if c.last_message_id is not None and _last_visible(c, m)
            else None
        )
        out.append(
            Conversation(
                id=c.id,
                type=c.type,
                name=shown_name(c.type, c.name, people, viewer),
                description=c.description,
                avatar=c.avatar,
                max_members=c.max_members,
                allow_invite=c.allow_invite,
                allow_member_modify=c.allow_member_modify,
                is_public=c.is_public,
                status=c.status,
                creator_id=c.creator_id,
                created_at=created,
                updated_at=created if c.updated_at == c.created_at else _iso(c.updated_at),
                member_count=len(c.member_ids),
                participants=people,
                last_seq=c.last_seq,
                last_message=last_message,
                # the last message's own time, already formatted (unless it was cleared)
                last_message_at=last_message.created_at if last_message else iso(c.last_message_at),
                unread_count=unread_of(c, m),
            )
        )
    return out


def shown_name(kind: str, name: str, people: Sequence[Participant], viewer: int) -> str:
    """The conversation's name as ``viewer`` sees it: a single chat is named after the other
    person (``name`` until that person is known)."""
    if kind != "single":
        return name
    return next((p.name for p in people if p.id != viewer), name)


def _participant(u: UserDoc) -> Participant:
    return Participant(u.id, u.standard_id, u.name, u.is_active)


def _iso(ts: float) -> str:
    return iso(ts) or ""


async def _nothing() -> list[MessageDoc]:
    return []


def _last_visible(conv: ConversationDoc, member: MemberDoc) -> bool:
    return conv.last_message_id is not None and conv.last_seq > member.cleared_seq


async def list_for(read: ReadStore, user_id: int) -> list[Conversation]:
    """The caller's conversations (hidden single chats left out), most recent activity first."""
    members = await read.find(MEMBERS, {"user_id": user_id})
    by_cid = {m.conversation_id: m for m in members}
    convs = await read.get_many(CONVERSATIONS, [str(c) for c in by_cid])
    pairs = [(c, by_cid[c.id]) for c in convs if visible(c, by_cid[c.id])]
    pairs.sort(key=lambda p: (p[0].last_message_at or p[0].created_at, p[0].id))
    pairs.reverse()
    return await views(read, pairs, user_id)


async def get_for(
    read: ReadStore, cid: int, user_id: int, *, former_ok: bool = False
) -> Conversation:
    """The conversation as the caller sees it. ``former_ok``: the caller has just left it (the
    write was authorised already), so show it without their membership."""
    if former_ok:
        conv = await read.get(CONVERSATIONS, str(cid))
        if conv is None:
            raise NotFoundError("Conversation not found")
        member = await read.get(MEMBERS, member_key(cid, user_id))
        if member is None:
            member = no_membership(conv, user_id)
    else:
        member = await membership(read, cid, user_id)
        conv = await read.get(CONVERSATIONS, str(cid))
        assert conv is not None
    return (await views(read, [(conv, member)], user_id))[0]


async def members(read: ReadStore, cid: int, user_id: int) -> list[Member]:
    await membership(read, cid, user_id)
    docs = await read.find(MEMBERS, {"conversation_id": cid})
    docs.sort(key=lambda d: (d.joined_at, d.user_id))
    users = await users_by_id(read, [d.user_id for d in docs])
    return [member_view(d, users.get(d.user_id)) for d in docs]


async def member(read: ReadStore, cid: int, user_id: int, target_id: int) -> Member:
    await membership(read, cid, user_id)
    doc = await membership(read, cid, target_id)
    users = await users_by_id(read, [target_id])
    return member_view(doc, users.get(target_id))


def member_view(d: MemberDoc, user: UserDoc | None, now: float | None = None) -> Member:
    now = time.time() if now is None else now
    until = d.muted_until
    muted = d.status == "muted" and (until is None or until > now)
    return Member(
        id=d.user_id,
        conversation_id=d.conversation_id,
        user_id=d.user_id,
        user_name=user.name if user else None,
        user_standard_id=user.standard_id if user else None,
        role=d.role,
        status="muted" if muted else "active",
        nickname=d.nickname,
        muted_until=iso(until) if muted else None,
        joined_at=iso(d.joined_at) or "",
        last_read_seq=d.last_read_seq,
    )


async def unread(read: ReadStore, user_id: int, cid: int | None) -> UnreadCount:
    if cid is not None:
        member = await membership(read, cid, user_id)
        conv = await read.get(CONVERSATIONS, str(cid))
        assert conv is not None
        return UnreadCount(unread_of(conv, member), cid)
    members_ = await read.find(MEMBERS, {"user_id": user_id})
    by_cid = {m.conversation_id: m for m in members_}
    convs = await read.get_many(CONVERSATIONS, [str(c) for c in by_cid])
    return UnreadCount(sum(unread_of(c, by_cid[c.id]) for c in convs), None)


async def stats(read: ReadStore, cid: int, user_id: int) -> GroupStats:
    await membership(read, cid, user_id)
    conv = await read.get(CONVERSATIONS, str(cid))
    assert conv is not None
    since = time.time() - ACTIVE_DAYS * 86400
    admins = await read.count(MEMBERS, {"conversation_id": cid, "role": "admin"})
    active = await read.count(MEMBERS, {"conversation_id": cid, "last_sent_at": {"$gte": since}})
    return GroupStats(
        conversation_id=cid,
        member_count=len(conv.member_ids),
        admin_count=admins,
        message_count=conv.last_seq,
        active_members=active,
        created_at=iso(conv.created_at) or "",
        last_message_at=iso(conv.last_message_at),
    )


async def search_groups(read: ReadStore, keyword: str, limit: int) -> list[PublicGroup]:
    """Active public groups whose name or description contains the keyword, newest first."""
    where = {"is_public": True, "status": "active"}
    order = [("created_at", -1)]
    keyword = keyword.strip()
    if keyword:
        found = await read.search(GROUP_DIRECTORY, keyword, where, order, 0, limit)
    else:
        found = await read.find(GROUP_DIRECTORY, where, order, 0, limit)
    docs = {d.id: d for d in await read.get_many(CONVERSATIONS, [str(f.id) for f in found])}
    return [
        PublicGroup(d.id, d.name, d.description, d.avatar, len(d.member_ids))
        for f in found
        if (d := docs.get(f.id)) is not None
    ]


async def invite_conversation(read: ReadStore, code: str) -> int | None:
    if len(code) > 64:
        return None
    doc = await read.get(INVITES, code)
    return None if doc is None else doc.conversation_id
