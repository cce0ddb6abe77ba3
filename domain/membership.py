"""Decisions on a conversation's membership and settings: state + request -> events (pure)."""

from __future__ import annotations

from domain import conversations as c
from domain.conversation import (
    MANAGERS,
    SETTINGS_FIELDS,
    Conversation,
    may_invite,
    require_active,
    require_exists,
    require_group,
    require_member,
    validate_settings,
)
from domain.errors import ForbiddenError, InvalidError, NotFoundError
from domain.events import Event


def decide_create_group(
    conversation_id: int,
    creator_id: int,
    member_ids: list[int],
    settings: dict[str, object],
    at: float,
) -> c.ConversationCreated:
    members = tuple(dict.fromkeys([creator_id, *member_ids]))
    validate_settings(settings, len(members))
    max_members = int(settings.get("max_members") or 500)  # type: ignore[call-overload]
    if len(members) > max_members:
        raise InvalidError(f"Too many members: the group allows {max_members}")
    name = str(settings.get("name") or "")
    if not name.strip():
        raise InvalidError("name must be 1-100 characters")
    return c.ConversationCreated(
        conversation_id=conversation_id,
        conversation_type="group",
        creator_id=creator_id,
        member_ids=members,
        name=name,
        description=settings.get("description"),  # type: ignore[arg-type]
        avatar=settings.get("avatar"),  # type: ignore[arg-type]
        max_members=max_members,
        allow_invite=bool(settings.get("allow_invite", True)),
        allow_member_modify=bool(settings.get("allow_member_modify", False)),
        is_public=bool(settings.get("is_public", False)),
        at=at,
    )


def decide_create_single(
    conversation_id: int, creator_id: int, target_id: int, at: float
) -> c.ConversationCreated:
    if creator_id == target_id:
        raise InvalidError("You cannot start a single chat with yourself")
    return c.ConversationCreated(
        conversation_id=conversation_id,
        conversation_type="single",
        creator_id=creator_id,
        member_ids=(creator_id, target_id),
        max_members=2,
        allow_invite=False,
        at=at,
    )


def decide_add_members(
    state: Conversation, operator_id: int, user_ids: list[int], role: c.Role, seq: int, at: float
) -> list[Event]:
    """Add the users who are not members yet; ``seq`` becomes their initial read watermark."""
    require_group(state, "members to add")
    op = require_member(state, operator_id)
    require_active(state)
    if not may_invite(state, op):
        raise ForbiddenError("Only the owner or an admin may add members to this group")
    if role == "owner":
        raise InvalidError("Add members as member or admin; transfer ownership separately")
    if role == "admin" and op.role not in MANAGERS:
        raise ForbiddenError("Only the owner or an admin may add admins")
    new = tuple(u for u in dict.fromkeys(user_ids) if u not in state.members)
    if not new:
        return []
    if op.role not in MANAGERS and any(u in state.barred for u in new):
        raise ForbiddenError(
            "Someone removed from this group can be added back only by its owner or an admin"
        )
    require_room(state, len(new))
    return [
        c.MemberAdded(
            conversation_id=state.conversation_id,
            user_ids=new,
            operator_id=operator_id,
            role=role,
            seq=seq,
            at=at,
        )
    ]


def decide_remove_member(
    state: Conversation, operator_id: int, user_id: int, at: float
) -> list[Event]:
    require_group(state, "members to remove")
    op = require_member(state, operator_id)
    if user_id != operator_id:
        require_active(state)  # leaving a dissolved group is the one change still allowed
    target = state.members.get(user_id)
    if target is None:
        raise NotFoundError("That user is not a member of this conversation")
    if user_id == operator_id:
        if target.role == "owner":
            raise InvalidError("The owner must transfer ownership before leaving")
    elif op.role == "admin" and target.role != "member":
        raise ForbiddenError("An admin may remove only plain members")
    elif op.role not in MANAGERS:
        raise ForbiddenError("Only the owner or an admin may remove members")
    return [
        c.MemberRemoved(
            conversation_id=state.conversation_id,
            user_id=user_id,
            operator_id=operator_id,
            is_self_exit=user_id == operator_id,
            at=at,
        )
    ]


_UNSET: object = object()


def decide_update_member(
    state: Conversation,
    operator_id: int,
    user_id: int,
    changes: dict[str, object],
    at: float,
) -> list[Event]:
    """``changes`` holds any of role, nickname, status, muted_until (None values are kept)."""
    op = require_member(state, operator_id)
    target = state.members.get(user_id)
    if target is None:
        raise NotFoundError("That user is not a member of this conversation")
    cid = state.conversation_id
    out: list[Event] = []
    role = changes.get("role")
    if role is not None and role != target.role:
        out.extend(_role_change(state, operator_id, op.role, user_id, target.role, role, at))
    mute_asked = "status" in changes or "muted_until" in changes
    status = changes.get("status", target.status) or target.status
    until = changes.get("muted_until", _UNSET)
    if until is _UNSET:
        until = target.muted_until if status == "muted" else None
    if status == "active":
        until = None
    mute_changed = mute_asked and (status, until) != (target.status, target.muted_until)
    if mute_changed:
        require_group(state, "mutes")
        require_active(state)
        if target.role == "owner":
            raise InvalidError("The owner cannot be muted")
        if not (op.role == "owner" or (op.role == "admin" and target.role == "member")):
            raise ForbiddenError("Only the owner (or an admin, for plain members) may mute")
    nickname = target.nickname
    if "nickname" in changes:
        nickname = (str(changes["nickname"] or "").strip()) or None
        if nickname != target.nickname and operator_id != user_id and op.role != "owner":
            raise ForbiddenError("Only the member or the owner may set a nickname")
    if mute_changed or nickname != target.nickname:
        out.append(
            c.MemberUpdated(
                conversation_id=cid,
                user_id=user_id,
                operator_id=operator_id,
                nickname=nickname,
                status=status,  # type: ignore[arg-type]
                muted_until=until,  # type: ignore[arg-type]
                at=at,
            )
        )
    return out


def _role_change(
    state: Conversation,
    operator_id: int,
    op_role: c.Role,
    user_id: int,
    old: c.Role,
    new: object,
    at: float,
) -> list[Event]:
    require_group(state, "roles")
    require_active(state)
    cid = state.conversation_id
    if new == "owner":
        if op_role != "owner":
            raise ForbiddenError("Only the owner may transfer ownership")
        return [
            c.MemberRoleChanged(cid, user_id, old, "owner", operator_id, at=at),
            c.MemberRoleChanged(cid, operator_id, "owner", "admin", operator_id, at=at),
        ]
    if old == "owner":
        raise InvalidError("The owner's role changes only by transferring ownership")
    if not (op_role == "owner" or (op_role == "admin" and old == "member")):
        raise ForbiddenError("Only the owner (or an admin, for plain members) may change roles")
    return [c.MemberRoleChanged(cid, user_id, old, new, operator_id, at=at)]  # type: ignore[arg-type]


def decide_update_settings(
    state: Conversation, operator_id: int, changes: dict[str, object], at: float
) -> list[Event]:
    require_group(state, "settings")
    op = require_member(state, operator_id)
    require_active(state)
    if op.role not in MANAGERS and not state.allow_member_modify:
        raise ForbiddenError("Only the owner or an admin may change this group")
    validate_settings(changes, len(state.members))
    current = state.settings()
    new = {**current, **{k: v for k, v in changes.items() if k in SETTINGS_FIELDS}}
    changed = tuple(f for f in SETTINGS_FIELDS if new[f] != current[f])
    if not changed:
        return []
    return [
        c.ConversationUpdated(
            conversation_id=state.conversation_id,
            operator_id=operator_id,
            changed=changed,
            at=at,
            **new,  # type: ignore[arg-type]
        )
    ]


def decide_dissolve(state: Conversation, operator_id: int, at: float) -> list[Event]:
    op = require_member(state, operator_id)
    if op.role != "owner":
        raise ForbiddenError("Only the owner may dissolve the group")
    if state.status == "dissolved":
        return []
    return [c.ConversationDissolved(state.conversation_id, operator_id, at=at)]


def decide_hide(state: Conversation, user_id: int, seq: int, at: float) -> list[Event]:
    require_member(state, user_id)
    return [c.ConversationHidden(state.conversation_id, user_id, seq, at=at)]


def decide_unhide(state: Conversation, user_id: int, at: float) -> list[Event]:
    if user_id not in state.hidden:
        return []
    return [c.ConversationUnhidden(state.conversation_id, user_id, at=at)]


def decide_clear(state: Conversation, user_id: int, seq: int, at: float) -> list[Event]:
    require_member(state, user_id)
    return [c.HistoryCleared(state.conversation_id, user_id, seq, at=at)]


def decide_create_invite(
    state: Conversation,
    operator_id: int,
    code: str,
    expires_in_hours: float,
    max_uses: int | None,
    at: float,
) -> c.InviteCodeCreated:
    require_group(state, "invite codes")
    op = require_member(state, operator_id)
    require_active(state)
    if not may_invite(state, op):
        raise ForbiddenError("Only the owner or an admin may invite to this group")
    return c.InviteCodeCreated(
        conversation_id=state.conversation_id,
        code=code,
        operator_id=operator_id,
        expires_at=at + expires_in_hours * 3600,
        max_uses=max_uses,
        at=at,
    )


def decide_join(state: Conversation, user_id: int, code: str, seq: int, at: float) -> list[Event]:
    require_exists(state)
    invite = state.invites.get(code)
    if invite is None:
        raise NotFoundError("Invite code not found")
    if user_id in state.members:
        return []
    require_active(state)
    if user_id in state.barred:
        raise ForbiddenError(
            "You were removed from this group; only its owner or an admin can add you again"
        )
    if invite.revoked:
        raise InvalidError("The invite code is no longer valid")
    if invite.expires_at <= at:
        raise InvalidError("The invite code has expired")
    if invite.max_uses is not None and invite.uses >= invite.max_uses:
        raise InvalidError("The invite code has been used up")
    require_room(state, 1)
    return [
        c.MemberAdded(
            conversation_id=state.conversation_id,
            user_ids=(user_id,),
            operator_id=user_id,
            seq=seq,
            invite_code=code,
            at=at,
        )
    ]


def decide_revoke_invite(
    state: Conversation, operator_id: int, code: str, at: float
) -> list[Event]:
    require_group(state, "invite codes")
    op = require_member(state, operator_id)
    if op.role not in MANAGERS:
        raise ForbiddenError("Only the owner or an admin may revoke invite codes")
    invite = state.invites.get(code)
    if invite is None:
        raise NotFoundError("Invite code not found")
    if invite.revoked:
        return []
    return [c.InviteCodeRevoked(state.conversation_id, code, operator_id, at=at)]


def require_invite_manager(state: Conversation, operator_id: int) -> None:
    require_group(state, "invite codes")
    if require_member(state, operator_id).role not in MANAGERS:
        raise ForbiddenError("Only the owner or an admin may list invite codes")


def require_room(state: Conversation, joining: int) -> None:
    """The group has room for ``joining`` more members (``max_members``)."""
    if len(state.members) + joining > state.max_members:
        raise InvalidError(f"The group is full (max_members {state.max_members})")
