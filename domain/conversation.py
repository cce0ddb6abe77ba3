"""The Conversation aggregate: membership and settings as pure ``evolve`` and ``decide_*``.

Messages are not part of this state (they live in their own stream); the command side passes the
conversation's current ``seq`` in where a decision records it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, assert_never

import msgspec

from domain import conversations as c
from domain.errors import ForbiddenError, InvalidError, NotFoundError
from domain.events import Event

MANAGERS: tuple[c.Role, ...] = ("owner", "admin")
MAX_MEMBERS_LIMIT = 1000
SETTINGS_FIELDS = (
    "name",
    "description",
    "avatar",
    "max_members",
    "allow_invite",
    "allow_member_modify",
    "is_public",
)


class Member(msgspec.Struct):
    role: c.Role = "member"
    nickname: str | None = None
    status: c.MemberStatus = "active"
    muted_until: float | None = None
    joined_at: float = 0.0

    def is_muted(self, now: float) -> bool:
        return self.status == "muted" and (self.muted_until is None or self.muted_until > now)


class Invite(msgspec.Struct):
    """An invite code. It dies for good (``revoked``) when an owner or admin revokes it, when
    its creator loses the right to invite (leaves, is removed, is demoted while the group does
    not allow members to invite) or when the group turns ``allow_invite`` off."""

    expires_at: float
    max_uses: int | None = None
    uses: int = 0
    created_by: int = 0
    created_at: float = 0.0
    revoked: bool = False


class Conversation(msgspec.Struct):
    conversation_id: int = 0
    conversation_type: c.ConversationType = "group"
    creator_id: int = 0
    status: Literal["active", "dissolved"] = "active"
    name: str = ""
    description: str | None = None
    avatar: str | None = None
    max_members: int = 500
    allow_invite: bool = True
    allow_member_modify: bool = False
    is_public: bool = False
    created_at: float = 0.0
    members: dict[int, Member] = {}
    invites: dict[str, Invite] = {}
    hidden: frozenset[int] = frozenset()
    # Removed by someone else: no invite code lets them back in until an owner or admin adds
    # them again.
    barred: frozenset[int] = frozenset()

    @property
    def exists(self) -> bool:
        return self.conversation_id != 0

    @property
    def is_group(self) -> bool:
        return self.conversation_type == "group"

    @property
    def owner_id(self) -> int | None:
        return next((u for u, m in self.members.items() if m.role == "owner"), None)

    def settings(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in SETTINGS_FIELDS}


def _replace_member(state: Conversation, user_id: int, **changes: object) -> Conversation:
    members = dict(state.members)
    members[user_id] = msgspec.structs.replace(members[user_id], **changes)
    return msgspec.structs.replace(state, members=members)


def evolve(state: Conversation, event: Event) -> Conversation:
    if not isinstance(event, c.ConversationEvent):
        return state
    match event:
        case c.ConversationCreated():
            owner = event.creator_id if event.conversation_type == "group" else None
            members = {
                u: Member(role="owner" if u == owner else "member", joined_at=event.at)
                for u in event.member_ids
            }
            return Conversation(
                conversation_id=event.conversation_id,
                conversation_type=event.conversation_type,
                creator_id=event.creator_id,
                name=event.name,
                description=event.description,
                avatar=event.avatar,
                max_members=event.max_members,
                allow_invite=event.allow_invite,
                allow_member_modify=event.allow_member_modify,
                is_public=event.is_public,
                created_at=event.at,
                members=members,
            )
        case c.MemberAdded():
            members = dict(state.members)
            for u in event.user_ids:
                members[u] = Member(role=event.role, joined_at=event.at)
            invites = state.invites
            if event.invite_code is not None and event.invite_code in invites:
                invites = dict(invites)
                inv = invites[event.invite_code]
                invites[event.invite_code] = msgspec.structs.replace(
                    inv, uses=inv.uses + len(event.user_ids)
                )
            barred = state.barred - set(event.user_ids)
            return msgspec.structs.replace(state, members=members, invites=invites, barred=barred)
        case c.MemberRemoved():
            members = {u: m for u, m in state.members.items() if u != event.user_id}
            removed_by_other = event.operator_id != event.user_id and not event.is_self_exit
            barred = state.barred | {event.user_id} if removed_by_other else state.barred
            state = msgspec.structs.replace(state, members=members, barred=barred)
            return _revoke_invites(state, lambda code, inv: inv.created_by == event.user_id)
        case c.MemberRoleChanged():
            if event.user_id not in state.members:
                return state
            state = _replace_member(state, event.user_id, role=event.new_role)
            if event.new_role in MANAGERS or state.allow_invite:
                return state
            return _revoke_invites(state, lambda code, inv: inv.created_by == event.user_id)
        case c.MemberUpdated():
            if event.user_id not in state.members:
                return state
            return _replace_member(
                state,
                event.user_id,
                nickname=event.nickname,
                status=event.status,
                muted_until=event.muted_until,
            )
        case c.ConversationUpdated():
            values = {f: getattr(event, f) for f in SETTINGS_FIELDS}
            turned_off = state.allow_invite and not event.allow_invite
            state = msgspec.structs.replace(state, **values)
            return _revoke_invites(state, lambda code, inv: True) if turned_off else state
        case c.ConversationDissolved():
            return msgspec.structs.replace(state, status="dissolved")
        case c.ConversationHidden():
            return msgspec.structs.replace(state, hidden=state.hidden | {event.user_id})
        case c.ConversationUnhidden():
            return msgspec.structs.replace(state, hidden=state.hidden - {event.user_id})
        case c.InviteCodeCreated():
            invites = dict(state.invites)
            invites[event.code] = Invite(
                expires_at=event.expires_at,
                max_uses=event.max_uses,
                created_by=event.operator_id,
                created_at=event.at,
            )
            return msgspec.structs.replace(state, invites=invites)
        case c.InviteCodeRevoked():
            return _revoke_invites(state, lambda code, inv: code == event.code)
        case c.HistoryCleared():
            return state
        case _:
            assert_never(event)


def _revoke_invites(state: Conversation, which: Callable[[str, Invite], bool]) -> Conversation:
    hit = [code for code, inv in state.invites.items() if not inv.revoked and which(code, inv)]
    if not hit:
        return state
    invites = dict(state.invites)
    for code in hit:
        invites[code] = msgspec.structs.replace(invites[code], revoked=True)
    return msgspec.structs.replace(state, invites=invites)


def evolve_all(state: Conversation, events: Iterable[Event]) -> Conversation:
    for e in events:
        state = evolve(state, e)
    return state


# -- checks -------------------------------------------------------------------------------------


def require_exists(state: Conversation) -> Conversation:
    if not state.exists:
        raise NotFoundError("Conversation not found")
    return state


def require_member(state: Conversation, user_id: int) -> Member:
    require_exists(state)
    member = state.members.get(user_id)
    if member is None:
        raise ForbiddenError("You are not a member of this conversation")
    return member


def require_group(state: Conversation, what: str) -> None:
    if not state.is_group:
        raise InvalidError(f"Single chats have no {what}")


def require_active(state: Conversation) -> None:
    if state.status != "active":
        raise InvalidError("The group has been dissolved")


def check_can_send(state: Conversation, user_id: int, now: float) -> None:
    """Sending needs active membership, an active conversation and no mute (403 otherwise)."""
    member = require_member(state, user_id)
    if state.status != "active":
        raise ForbiddenError("The group has been dissolved; nothing can be sent")
    if member.is_muted(now):
        raise ForbiddenError("You are muted in this conversation")


def may_invite(state: Conversation, member: Member) -> bool:
    return member.role in MANAGERS or state.allow_invite


def validate_settings(values: dict[str, object], member_count: int) -> None:
    """The rules on settings beyond their types and limits (the request schema decodes those:
    a name of 1-100 characters, max_members 2-``MAX_MEMBERS_LIMIT``): a name is not blank, and
    max_members holds the members there are."""
    name = values.get("name")
    if isinstance(name, str) and not name.strip():
        raise InvalidError("name must be 1-100 characters")
    mm = values.get("max_members")
    if isinstance(mm, int) and mm < member_count:
        raise InvalidError(f"max_members cannot be below the member count ({member_count})")
