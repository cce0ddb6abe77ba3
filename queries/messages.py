"""Message reads: the ``Message`` view, history pages, single messages, search, receipts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from domain.conversations import MessageSent
from domain.errors import ForbiddenError, InvalidError, NotFoundError
from projections.schema import (
    CONVERSATIONS,
    MEMBERS,
    MESSAGES,
    USERS,
    MemberDoc,
    MessageDoc,
    UserDoc,
    member_key,
)
from projections.store import ReadStore
from queries.files import FileInfo, file_infos
from queries.views import iso


class Message(msgspec.Struct):
    id: int
    conversation_id: int
    seq: int
    sender_id: int
    sender_name: str | None
    sender_standard_id: str | None
    message_type: str
    content: str
    status: str
    reply_to_id: int | None
    client_msg_id: str | None
    file_info: FileInfo | None
    latitude: float | None
    longitude: float | None
    address: str | None
    created_at: str
    updated_at: str | None
    edited_at: str | None
    recalled_at: str | None


class Receipt(msgspec.Struct):
    user_id: int
    user_name: str | None
    read_at: str | None


class Receipts(msgspec.Struct):
    message_id: int
    receipts: list[Receipt]
    read_count: int
    unread_user_ids: list[int]
    total: int


async def users_by_id(read: ReadStore, ids: Sequence[int]) -> dict[int, UserDoc]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {d.id: d for d in await read.get_many(USERS, [str(i) for i in wanted])}


async def message_views(
    read: ReadStore, docs: Sequence[MessageDoc], users: dict[int, UserDoc] | None = None
) -> list[Message]:
    """Views for message documents, with senders and files joined in one read each
    (``users``: sender documents the caller has already read; only the missing are read)."""
    known = users or {}
    missing = [s for d in docs if (s := d.sender_id) not in known]
    if missing:
        known = {**known, **await users_by_id(read, missing)}
    file_ids = [f for d in docs if (f := d.file_id)]
    files = await file_infos(read, file_ids) if file_ids else {}
    return [_view(d, known.get(d.sender_id), files) for d in docs]


def _view(d: MessageDoc, user: UserDoc | None, files: dict[str, FileInfo]) -> Message:
    recalled = d.status == "recalled"
    created = iso(d.created_at) or ""
    return Message(
        id=d.id,
        conversation_id=d.conversation_id,
        seq=d.seq,
        sender_id=d.sender_id,
        sender_name=user.name if user else None,
        sender_standard_id=user.standard_id if user else None,
        message_type=d.message_type,
        content="" if recalled else d.content,
        status=d.status,
        reply_to_id=d.reply_to_id,
        client_msg_id=d.client_msg_id,
        file_info=None if recalled or not d.file_id else files.get(d.file_id),
        latitude=d.latitude,
        longitude=d.longitude,
        address=d.address,
        created_at=created,
        updated_at=created if d.updated_at == d.created_at else iso(d.updated_at),
        edited_at=iso(d.edited_at),
        recalled_at=iso(d.recalled_at),
    )


async def membership(read: ReadStore, cid: int, user_id: int) -> MemberDoc:
    """The caller's membership document: 404 for an unknown conversation, 403 for a non-member."""
    member = await read.get(MEMBERS, member_key(cid, user_id))
    if member is not None:
        return member
    if await read.get(CONVERSATIONS, str(cid)) is None:
        raise NotFoundError("Conversation not found")
    raise ForbiddenError("You are not a member of this conversation")


async def conversation_of(read: ReadStore, message_id: int) -> int | None:
    """The conversation a message belongs to; None for an unknown message."""
    doc = await read.get(MESSAGES, str(message_id))
    return None if doc is None else doc.conversation_id


async def known_ids(read: ReadStore, message_ids: Sequence[int]) -> set[int]:
    """Those of ``message_ids`` the messages read model has."""
    docs = await read.get_many(MESSAGES, [str(i) for i in dict.fromkeys(message_ids)])
    return {d.id for d in docs}


async def message_doc(read: ReadStore, message_id: int) -> MessageDoc:
    doc = await read.get(MESSAGES, str(message_id))
    if doc is None:
        raise NotFoundError("Message not found")
    return doc


async def visible_message(
    read: ReadStore, message_id: int, user_id: int
) -> tuple[MessageDoc, MemberDoc]:
    """(message, the caller's membership) when the caller may see the message."""
    doc = await message_doc(read, message_id)
    member = await membership(read, doc.conversation_id, user_id)
    if doc.seq <= member.cleared_seq:
        raise NotFoundError("Message not found")
    return doc, member


async def get_message(read: ReadStore, message_id: int, user_id: int) -> Message:
    doc, _ = await visible_message(read, message_id, user_id)
    return (await message_views(read, [doc]))[0]


async def _seq_of(read: ReadStore, cid: int, message_id: int) -> int:
    doc = await read.get(MESSAGES, str(message_id))
    if doc is None or doc.conversation_id != cid:
        raise InvalidError(f"Message {message_id} is not in this conversation")
    return doc.seq


async def history(
    read: ReadStore,
    cid: int,
    user_id: int,
    *,
    skip: int,
    limit: int,
    after_seq: int | None = None,
    before_seq: int | None = None,
    after: int | None = None,
    before: int | None = None,
) -> list[Message]:
    """A page in ascending seq; without cursors the newest page. Cleared history is left out."""
    member = await membership(read, cid, user_id)
    if after is not None:
        after_seq = max(after_seq or 0, await _seq_of(read, cid, after))
    if before is not None:
        b = await _seq_of(read, cid, before)
        before_seq = b if before_seq is None else min(before_seq, b)
    seq: dict[str, int] = {"$gt": max(member.cleared_seq, after_seq or 0)}
    if before_seq is not None:
        seq["$lt"] = before_seq
    where = {"conversation_id": cid, "seq": seq}
    if after_seq is not None:
        docs = await read.find(MESSAGES, where, [("seq", 1)], skip, limit)
    else:
        docs = await read.find(MESSAGES, where, [("seq", -1)], skip, limit)
        docs.reverse()
    return await message_views(read, docs)


async def search(
    read: ReadStore, user_id: int, keyword: str, cid: int | None, skip: int, limit: int
) -> list[Message]:
    """Case-insensitive search in the caller's conversations, newest first; no recalled
    messages, no system messages, nothing the caller cleared."""
    if cid is not None:
        mine = {cid: (await membership(read, cid, user_id)).cleared_seq}
    else:
        members = await read.find(MEMBERS, {"user_id": user_id})
        mine = {m.conversation_id: m.cleared_seq for m in members}
    keyword = keyword.strip()
    if not mine or not keyword:
        return []
    where = {"conversation_id": {"$in": sorted(mine)}, "status": {"$ne": "recalled"}}
    order = [("created_at", -1), ("id", -1)]
    found: list[MessageDoc] = []
    raw = 0
    page = max(limit + skip, 50)
    while len(found) < skip + limit:
        docs = await read.search(MESSAGES, keyword, where, order, raw, page)
        raw += len(docs)
        found.extend(d for d in docs if d.seq > mine[d.conversation_id])
        if len(docs) < page:
            break
    return await message_views(read, found[skip : skip + limit])


async def receipts(read: ReadStore, message_id: int, user_id: int) -> Receipts:
    """Who of the current members (other than the sender) has read up to the message."""
    doc, _ = await visible_message(read, message_id, user_id)
    members = await read.find(MEMBERS, {"conversation_id": doc.conversation_id})
    others = [m for m in members if m.user_id != doc.sender_id]
    readers = sorted((m for m in others if m.last_read_seq >= doc.seq), key=lambda m: m.user_id)
    unread = sorted(m.user_id for m in others if m.last_read_seq < doc.seq)
    users = await users_by_id(read, [m.user_id for m in readers])
    out = [
        Receipt(
            user_id=m.user_id,
            user_name=u.name if (u := users.get(m.user_id)) is not None else None,
            read_at=iso(m.last_read_at),
        )
        for m in readers
    ]
    return Receipts(message_id, out, len(out), unread, len(out) + len(unread))


async def find_sent(
    read: ReadStore, cid: int, keys: Sequence[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, int]]:
    """(sender, client_msg_id) -> (message id, seq) for keys already stored in ``cid``."""
    wanted = set(keys)
    if not wanted:
        return {}
    where = {"conversation_id": cid, "client_msg_id": {"$in": sorted({k for _, k in wanted})}}
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for d in await read.find(MESSAGES, where):
        if d.client_msg_id is not None and (key := (d.sender_id, d.client_msg_id)) in wanted:
            out[key] = (d.id, d.seq)
    return out


async def highest_seq_of(
    read: ReadStore, cid: int, message_ids: Sequence[int], user_id: int
) -> int | None:
    """The highest seq among these messages of ``cid`` not sent by ``user_id`` (others ignored)."""
    docs = await read.get_many(MESSAGES, [str(i) for i in set(message_ids)])
    seqs = [d.seq for d in docs if d.conversation_id == cid and d.sender_id != user_id]
    return max(seqs) if seqs else None


class Sender(Protocol):
    """What a message view shows of its sender (a ``UserDoc`` or a ``User`` view)."""

    @property
    def name(self) -> str: ...

    @property
    def standard_id(self) -> str: ...


def sent_view(event: MessageSent, sender: Sender | None, file_info: FileInfo | None) -> Message:
    """The view of a message just written, from its event: no read-model round trip."""
    created = iso(event.at) or ""
    return Message(
        id=event.message_id,
        conversation_id=event.conversation_id,
        seq=event.seq,
        sender_id=event.sender_id,
        sender_name=sender.name if sender else None,
        sender_standard_id=sender.standard_id if sender else None,
        message_type=event.message_type,
        content=event.content,
        status="sent",
        reply_to_id=event.reply_to_id,
        client_msg_id=event.client_msg_id,
        file_info=file_info,
        latitude=event.latitude,
        longitude=event.longitude,
        address=event.address,
        created_at=created,
        updated_at=created,
        edited_at=None,
        recalled_at=None,
    )
