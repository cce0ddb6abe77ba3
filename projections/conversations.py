"""The conversations read model: one document per conversation, per membership, per invite.

Unread counts are never stored: a conversation keeps ``last_seq``, a membership its read
watermark ``last_read_seq`` (moved by reads, by the member's own messages, by hide and clear),
and the query subtracts. Every write is a plain function of one event.
"""

from __future__ import annotations

from typing import Any, assert_never

from domain import conversations as c
from domain.events import Event, type_names
from domain.store import RecordedEvent
from projections.schema import (
    CONVERSATIONS,
    GROUP_DIRECTORY,
    INVITES,
    MEMBERS,
    ConversationDoc,
    GroupListingDoc,
    InviteDoc,
    MemberDoc,
    member_key,
)
from projections.store import Collection, Op, Patch


def _search_text(name: str, description: str | None) -> str:
    return f"{name}\n{description or ''}"


def _member_doc(cid: int, user_id: int, role: str, seq: int, at: float) -> MemberDoc:
    return MemberDoc(
        conversation_id=cid,
        user_id=user_id,
        role=role,
        status="active",
        nickname=None,
        muted_until=None,
        joined_at=at,
        last_read_seq=seq,
        last_read_at=at,
        cleared_seq=0,
        hidden_seq=None,
        last_sent_at=None,
    )


def _member_patch(cid: int, user_id: int, **kw: Any) -> Patch:
    return Patch(MEMBERS.name, member_key(cid, user_id), upsert=False, **kw)


def _created(event: c.ConversationCreated) -> list[Op]:
    cid = event.conversation_id
    owner = event.creator_id if event.conversation_type == "group" else None
    doc = ConversationDoc(
        id=cid,
        type=event.conversation_type,
        name=event.name,
        description=event.description,
        avatar=event.avatar,
        max_members=event.max_members,
        allow_invite=event.allow_invite,
        allow_member_modify=event.allow_member_modify,
        is_public=event.is_public,
        status="active",
        creator_id=event.creator_id,
        owner_id=owner,
        created_at=event.at,
        updated_at=event.at,
        member_ids=list(event.member_ids),
        last_seq=0,
        last_message_id=None,
        last_message_at=None,
    )
    ops: list[Op] = [CONVERSATIONS.put(str(cid), doc)]
    if event.conversation_type == "group":
        entry = GroupListingDoc(
            id=cid,
            is_public=event.is_public,
            status="active",
            created_at=event.at,
            search_text=_search_text(event.name, event.description),
        )
        ops.append(GROUP_DIRECTORY.put(str(cid), entry))
    for u in event.member_ids:
        role = "owner" if u == owner else "member"
        ops.append(MEMBERS.put(member_key(cid, u), _member_doc(cid, u, role, 0, event.at)))
    return ops


def _message_sent(event: c.MessageSent) -> list[Op]:
    # The hot path of any replay: Patch built directly (not through Collection.patch's kwargs).
    cid = event.conversation_id
    at = event.at
    conv = Patch(
        CONVERSATIONS.name,
        str(cid),
        set={"last_message_id": event.message_id, "last_message_at": at},
        max={"last_seq": event.seq},
        upsert=False,
    )
    own = Patch(
        MEMBERS.name,
        member_key(cid, event.sender_id),
        set={} if event.message_type == "system" else {"last_sent_at": at},
        max={"last_read_seq": event.seq, "last_read_at": at},
        upsert=False,
    )
    return [conv, own]


def _settings(event: c.ConversationUpdated) -> dict[str, Any]:
    return {
        "name": event.name,
        "description": event.description,
        "avatar": event.avatar,
        "max_members": event.max_members,
        "allow_invite": event.allow_invite,
        "allow_member_modify": event.allow_member_modify,
        "is_public": event.is_public,
        "updated_at": event.at,
    }


class ConversationsProjection:
    name = "conversations"
    collections: tuple[Collection[Any], ...] = (CONVERSATIONS, GROUP_DIRECTORY, MEMBERS, INVITES)
    # The only events handle acts on: the projector skips the others without calling it.
    handles = type_names(c.ConversationEvent | c.MessageEvent)

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        if type(event) is c.MessageSent:  # most of any log: before the union check and the match
            return _message_sent(event)
        if not isinstance(event, c.ConversationEvent | c.MessageEvent):
            return []
        match event:
            case c.ConversationCreated():
                return _created(event)
            case c.MessageSent():
                return _message_sent(event)
            case c.ReadMarked():
                return [
                    _member_patch(
                        event.conversation_id,
                        event.user_id,
                        max={"last_read_seq": event.seq, "last_read_at": event.at},
                    )
                ]
            case c.MemberAdded():
                cid = event.conversation_id
                ops: list[Op] = [
                    MEMBERS.put(
                        member_key(cid, u), _member_doc(cid, u, event.role, event.seq, event.at)
                    )
                    for u in event.user_ids
                ]
                add = {"member_ids": list(event.user_ids)}
                ops.append(CONVERSATIONS.patch(str(cid), add=add, upsert=False))
                return ops
            case c.MemberRemoved():
                cid = event.conversation_id
                pull = {"member_ids": [event.user_id]}
                return [
                    MEMBERS.delete(member_key(cid, event.user_id)),
                    CONVERSATIONS.patch(str(cid), pull=pull, upsert=False),
                ]
            case c.MemberRoleChanged():
                cid = event.conversation_id
                ops = [_member_patch(cid, event.user_id, set={"role": event.new_role})]
                if event.new_role == "owner":
                    owner = {"owner_id": event.user_id}
                    ops.append(CONVERSATIONS.patch(str(cid), set=owner, upsert=False))
                return ops
            case c.MemberUpdated():
                change: dict[str, Any] = {
                    "nickname": event.nickname,
                    "status": event.status,
                    "muted_until": event.muted_until,
                }
                return [_member_patch(event.conversation_id, event.user_id, set=change)]
            case c.ConversationUpdated():
                cid = event.conversation_id
                listing = {
                    "is_public": event.is_public,
                    "search_text": _search_text(event.name, event.description),
                }
                return [
                    CONVERSATIONS.patch(str(cid), set=_settings(event), upsert=False),
                    GROUP_DIRECTORY.patch(str(cid), set=listing, upsert=False),
                ]
            case c.ConversationDissolved():
                cid = event.conversation_id
                gone = {"status": "dissolved", "updated_at": event.at}
                return [
                    CONVERSATIONS.patch(str(cid), set=gone, upsert=False),
                    GROUP_DIRECTORY.patch(str(cid), set={"status": "dissolved"}, upsert=False),
                ]
            case c.ConversationHidden():
                return [
                    _member_patch(
                        event.conversation_id,
                        event.user_id,
                        set={"hidden_seq": event.seq},
                        max={"last_read_seq": event.seq, "last_read_at": event.at},
                    )
                ]
            case c.ConversationUnhidden():
                return [
                    _member_patch(event.conversation_id, event.user_id, set={"hidden_seq": None})
                ]
            case c.HistoryCleared():
                return [
                    _member_patch(
                        event.conversation_id,
                        event.user_id,
                        max={
                            "cleared_seq": event.seq,
                            "last_read_seq": event.seq,
                            "last_read_at": event.at,
                        },
                    )
                ]
            case c.InviteCodeCreated():
                invite = InviteDoc(
                    code=event.code,
                    conversation_id=event.conversation_id,
                    expires_at=event.expires_at,
                    max_uses=event.max_uses,
                    created_by=event.operator_id,
                    created_at=event.at,
                )
                return [INVITES.put(event.code, invite)]
            case c.MessageEdited() | c.MessageRecalled():
                return []
            case c.InviteCodeRevoked():  # joining checks the command side's invites
                return []
            case _:
                assert_never(event)
