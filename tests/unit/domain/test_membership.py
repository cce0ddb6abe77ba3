"""domain/membership.py: decisions on a conversation's membership and settings, each refusal
with its error, through ``evolve`` (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import conversations as c
from domain import membership as m
from domain.conversation import Conversation, check_can_send, evolve, evolve_all, may_invite
from domain.errors import DomainError, ForbiddenError, InvalidError, NotFoundError
from domain.events import Event


def _group(*members: int) -> Conversation:
    created = m.decide_create_group(1, 10, list(members), {"name": "g"}, at=100.0)
    return evolve(Conversation(), created)


def test_create_group_dedupes_and_makes_the_creator_owner() -> None:
    created = m.decide_create_group(1, 10, [11, 11, 10, 12], {"name": "g"}, at=1.0)
    assert created.member_ids == (10, 11, 12)
    state = evolve(Conversation(), created)
    assert state.owner_id == 10 and state.members[11].role == "member"
    with pytest.raises(InvalidError):
        m.decide_create_group(1, 10, [11, 12], {"name": "g", "max_members": 2}, at=1.0)
    with pytest.raises(InvalidError):
        m.decide_create_group(1, 10, [11], {"name": "  "}, at=1.0)


def test_single_chat_needs_two_people() -> None:
    with pytest.raises(InvalidError):
        m.decide_create_single(1, 5, 5, at=1.0)
    state = evolve(Conversation(), m.decide_create_single(1, 5, 6, at=1.0))
    assert not state.is_group and state.owner_id is None
    with pytest.raises(InvalidError):
        m.decide_add_members(state, 5, [7], "member", 0, 1.0)


def test_ownership_transfer_is_two_role_changes() -> None:
    state = _group(11, 12)
    events = m.decide_update_member(state, 10, 11, {"role": "owner"}, 2.0)
    assert [(e.user_id, e.new_role) for e in events] == [(11, "owner"), (10, "admin")]  # type: ignore[attr-defined]
    state = evolve_all(state, events)
    assert state.owner_id == 11 and state.members[10].role == "admin"
    with pytest.raises(ForbiddenError):
        m.decide_update_member(state, 10, 12, {"role": "owner"}, 3.0)


def test_remove_rules() -> None:
    base = _group(11, 12, 13)
    state = evolve_all(base, m.decide_update_member(base, 10, 11, {"role": "admin"}, 1.0))
    with pytest.raises(InvalidError):
        m.decide_remove_member(state, 10, 10, 2.0)  # the owner transfers first
    with pytest.raises(ForbiddenError):
        m.decide_remove_member(state, 11, 10, 2.0)  # an admin removes plain members only
    with pytest.raises(ForbiddenError):
        m.decide_remove_member(state, 12, 13, 2.0)
    with pytest.raises(NotFoundError):
        m.decide_remove_member(state, 10, 99, 2.0)
    (left,) = m.decide_remove_member(state, 12, 12, 2.0)
    assert isinstance(left, c.MemberRemoved) and left.is_self_exit
    assert 12 not in evolve(state, left).members


def test_mute_and_its_expiry() -> None:
    state = _group(11)
    events = m.decide_update_member(state, 10, 11, {"status": "muted", "muted_until": 50.0}, 1.0)
    state = evolve_all(state, events)
    with pytest.raises(ForbiddenError):
        check_can_send(state, 11, now=49.0)
    check_can_send(state, 11, now=51.0)
    assert (
        m.decide_update_member(state, 10, 11, {"status": "muted", "muted_until": 50.0}, 2.0) == []
    )


def test_invites_expire_and_run_out() -> None:
    state = _group(11)
    invite = m.decide_create_invite(state, 11, "code", 1, 1, at=0.0)
    state = evolve(state, invite)
    with pytest.raises(InvalidError):
        m.decide_join(state, 20, "code", 5, at=3601.0)
    (joined,) = m.decide_join(state, 20, "code", 5, at=10.0)
    state = evolve(state, joined)
    assert state.members[20].role == "member" and state.invites["code"].uses == 1
    with pytest.raises(InvalidError):
        m.decide_join(state, 21, "code", 5, at=11.0)
    with pytest.raises(NotFoundError):
        m.decide_join(state, 21, "other", 5, at=11.0)
    assert m.decide_join(state, 20, "code", 5, at=11.0) == []  # already a member


def test_a_group_needs_a_name() -> None:
    nameless: list[dict[str, object]] = [{}, {"name": ""}, {"name": "   "}]
    for settings in nameless:
        with pytest.raises(InvalidError, match="name"):
            m.decide_create_group(1, 10, [11], settings, at=1.0)


def test_nobody_is_removed_from_a_dissolved_group_but_members_may_leave() -> None:
    state = _group(11, 12)
    state = evolve_all(state, m.decide_dissolve(state, 10, at=2.0))
    with pytest.raises(InvalidError, match="dissolved"):
        m.decide_remove_member(state, 10, 11, at=3.0)
    (left,) = m.decide_remove_member(state, 11, 11, at=3.0)
    assert isinstance(left, c.MemberRemoved) and left.is_self_exit


# -- each decision's refusals, with their errors --------------------------------------------------

OWNER, ADMIN, MEMBER, OUTSIDER = 10, 11, 12, 99


def roles_group(*events: c.ConversationEvent, **settings: object) -> Conversation:
    """Owner 10, admin 11, member 12 (and member 13)."""
    created = m.decide_create_group(1, OWNER, [ADMIN, MEMBER, 13], {"name": "g", **settings}, 1.0)
    promoted = c.MemberRoleChanged(1, ADMIN, "member", "admin", OWNER)
    return evolve_all(Conversation(), [created, promoted, *events])


def single() -> Conversation:
    return evolve(Conversation(), m.decide_create_single(2, OWNER, MEMBER, at=1.0))


DISSOLVED = c.ConversationDissolved(1, OWNER)


def test_a_created_group_has_the_given_settings_and_defaults() -> None:
    created = m.decide_create_group(
        7, 1, [2], {"name": "team", "description": "d", "avatar": "a", "is_public": True}, 5.0
    )
    assert created == c.ConversationCreated(
        conversation_id=7,
        conversation_type="group",
        creator_id=1,
        member_ids=(1, 2),
        name="team",
        description="d",
        avatar="a",
        max_members=500,
        allow_invite=True,
        allow_member_modify=False,
        is_public=True,
        at=5.0,
    )
    closed = m.decide_create_group(7, 1, [], {"name": "t", "allow_invite": False}, 5.0)
    assert not closed.allow_invite and closed.member_ids == (1,)


def test_a_group_exactly_as_large_as_allowed() -> None:
    created = m.decide_create_group(1, 10, [11, 12], {"name": "g", "max_members": 3}, 1.0)
    assert created.max_members == 3 and len(created.member_ids) == 3
    with pytest.raises(InvalidError, match=r"max_members cannot be below the member count \(4\)"):
        m.decide_create_group(1, 10, [11, 12, 13], {"name": "g", "max_members": 3}, 1.0)
    with pytest.raises(InvalidError, match="Too many members: the group allows 500"):
        m.decide_create_group(1, 10, list(range(11, 511)), {"name": "g"}, 1.0)


def test_a_single_chat_is_between_its_two_people() -> None:
    created = m.decide_create_single(2, 5, 6, at=3.0)
    assert created == c.ConversationCreated(
        conversation_id=2,
        conversation_type="single",
        creator_id=5,
        member_ids=(5, 6),
        max_members=2,
        allow_invite=False,
        at=3.0,
    )
    with pytest.raises(InvalidError, match="with yourself"):
        m.decide_create_single(2, 5, 5, at=3.0)


def test_adding_members() -> None:
    state = roles_group()
    (added,) = m.decide_add_members(state, MEMBER, [20, 21, 20, MEMBER], "member", 7, 2.0)
    assert added == c.MemberAdded(1, (20, 21), MEMBER, role="member", seq=7, at=2.0)
    assert m.decide_add_members(state, MEMBER, [ADMIN, 13], "member", 7, 2.0) == []
    (admins,) = m.decide_add_members(state, ADMIN, [20], "admin", 7, 2.0)
    assert isinstance(admins, c.MemberAdded) and admins.role == "admin"


@pytest.mark.parametrize(
    ("state", "operator", "role", "error", "detail"),
    [
        (Conversation(), OWNER, "member", NotFoundError, "Conversation not found"),
        (single(), OWNER, "member", InvalidError, "Single chats have no members to add"),
        (roles_group(), OUTSIDER, "member", ForbiddenError, "not a member"),
        (roles_group(DISSOLVED), OWNER, "member", InvalidError, "dissolved"),
        (
            roles_group(allow_invite=False),
            MEMBER,
            "member",
            ForbiddenError,
            "Only the owner or an admin may add members",
        ),
        (roles_group(), OWNER, "owner", InvalidError, "transfer ownership separately"),
        (
            roles_group(),
            MEMBER,
            "admin",
            ForbiddenError,
            "Only the owner or an admin may add admins",
        ),
    ],
)
def test_adding_members_refused(
    state: Conversation, operator: int, role: str, error: type[Exception], detail: str
) -> None:
    with pytest.raises(error, match=detail):
        m.decide_add_members(state, operator, [20], role, 0, 2.0)  # type: ignore[arg-type]


def test_managers_add_members_where_members_may_not() -> None:
    closed = roles_group(allow_invite=False)
    assert m.decide_add_members(closed, ADMIN, [20], "member", 0, 2.0)
    assert m.decide_add_members(closed, OWNER, [20], "member", 0, 2.0)


def test_someone_removed_comes_back_only_through_a_manager() -> None:
    state = roles_group(c.MemberRemoved(1, 13, OWNER))
    with pytest.raises(ForbiddenError, match="added back only by its owner or an admin"):
        m.decide_add_members(state, MEMBER, [20, 13], "member", 0, 2.0)
    assert m.decide_add_members(state, ADMIN, [13], "member", 0, 2.0)
    left = roles_group(c.MemberRemoved(1, 13, 13, is_self_exit=True))
    assert m.decide_add_members(left, MEMBER, [13], "member", 0, 2.0)


def test_a_full_group_takes_nobody() -> None:
    state = roles_group(max_members=5)
    assert m.decide_add_members(state, OWNER, [20], "member", 0, 2.0)  # the fifth
    with pytest.raises(InvalidError, match=r"The group is full \(max_members 5\)"):
        m.decide_add_members(state, OWNER, [20, 21], "member", 0, 2.0)


@pytest.mark.parametrize(
    ("operator", "target", "error", "detail"),
    [
        (OUTSIDER, MEMBER, ForbiddenError, "not a member"),
        (OWNER, OUTSIDER, NotFoundError, "not a member of this conversation"),
        (OWNER, OWNER, InvalidError, "must transfer ownership before leaving"),
        (ADMIN, OWNER, ForbiddenError, "An admin may remove only plain members"),
        (MEMBER, 13, ForbiddenError, "Only the owner or an admin may remove members"),
        (MEMBER, ADMIN, ForbiddenError, "Only the owner or an admin may remove members"),
    ],
)
def test_removal_refused(operator: int, target: int, error: type[Exception], detail: str) -> None:
    with pytest.raises(error, match=detail):
        m.decide_remove_member(roles_group(), operator, target, 2.0)


def test_an_admin_cannot_remove_another_admin() -> None:
    state = roles_group(c.MemberRoleChanged(1, 13, "member", "admin", OWNER))
    with pytest.raises(ForbiddenError, match="An admin may remove only plain members"):
        m.decide_remove_member(state, ADMIN, 13, 2.0)


@pytest.mark.parametrize(("operator", "target"), [(OWNER, ADMIN), (OWNER, MEMBER), (ADMIN, 13)])
def test_managers_remove(operator: int, target: int) -> None:
    assert m.decide_remove_member(roles_group(), operator, target, 2.0) == [
        c.MemberRemoved(1, target, operator, is_self_exit=False, at=2.0)
    ]


def test_nobody_is_removed_from_a_single_chat() -> None:
    with pytest.raises(InvalidError, match="Single chats have no members to remove"):
        m.decide_remove_member(single(), OWNER, MEMBER, 2.0)


def test_who_changes_roles() -> None:
    state = roles_group()
    assert m.decide_update_member(state, OWNER, MEMBER, {"role": "admin"}, 2.0) == [
        c.MemberRoleChanged(1, MEMBER, "member", "admin", OWNER, at=2.0)
    ]
    assert m.decide_update_member(state, ADMIN, MEMBER, {"role": "admin"}, 2.0)
    assert m.decide_update_member(state, OWNER, ADMIN, {"role": "member"}, 2.0)
    assert m.decide_update_member(state, OWNER, MEMBER, {"role": "member"}, 2.0) == []


@pytest.mark.parametrize(
    ("state", "operator", "target", "role", "error", "detail"),
    [
        (roles_group(), OUTSIDER, MEMBER, "admin", ForbiddenError, "not a member"),
        (roles_group(), OWNER, OUTSIDER, "admin", NotFoundError, "not a member"),
        (roles_group(), ADMIN, MEMBER, "owner", ForbiddenError, "Only the owner may transfer"),
        (roles_group(), ADMIN, OWNER, "member", InvalidError, "only by transferring ownership"),
        (roles_group(), ADMIN, ADMIN, "member", ForbiddenError, "may change roles"),
        (
            roles_group(c.MemberRoleChanged(1, 13, "member", "admin", OWNER)),
            ADMIN,
            13,
            "member",
            ForbiddenError,
            "may change roles",
        ),
        (roles_group(), MEMBER, 13, "admin", ForbiddenError, "may change roles"),
        (roles_group(DISSOLVED), OWNER, MEMBER, "admin", InvalidError, "dissolved"),
        (single(), OWNER, MEMBER, "admin", InvalidError, "Single chats have no roles"),
    ],
)
def test_role_changes_refused(
    state: Conversation,
    operator: int,
    target: int,
    role: str,
    error: type[Exception],
    detail: str,
) -> None:
    with pytest.raises(error, match=detail):
        m.decide_update_member(state, operator, target, {"role": role}, 2.0)


def test_muting_and_unmuting() -> None:
    state = roles_group()
    (muted,) = m.decide_update_member(state, ADMIN, MEMBER, {"status": "muted"}, 2.0)
    assert muted == c.MemberUpdated(1, MEMBER, ADMIN, status="muted", muted_until=None, at=2.0)
    state = evolve(state, muted)
    assert m.decide_update_member(state, ADMIN, MEMBER, {"status": "muted"}, 3.0) == []
    (until,) = m.decide_update_member(state, OWNER, MEMBER, {"muted_until": 50.0}, 3.0)
    assert isinstance(until, c.MemberUpdated) and (until.status, until.muted_until) == (
        "muted",
        50.0,
    )
    state = evolve(state, until)
    (kept,) = m.decide_update_member(
        state, OWNER, MEMBER, {"status": "muted", "nickname": "z"}, 4.0
    )
    assert isinstance(kept, c.MemberUpdated) and kept.muted_until == 50.0  # the end is kept
    (unmuted,) = m.decide_update_member(state, OWNER, MEMBER, {"status": "active"}, 4.0)
    assert isinstance(unmuted, c.MemberUpdated)
    assert (unmuted.status, unmuted.muted_until) == ("active", None)


def test_an_end_without_a_mute_changes_nothing() -> None:
    assert m.decide_update_member(roles_group(), OWNER, MEMBER, {"muted_until": 9.0}, 2.0) == []


@pytest.mark.parametrize(
    ("state", "operator", "target", "error", "detail"),
    [
        (roles_group(), ADMIN, OWNER, InvalidError, "The owner cannot be muted"),
        (roles_group(), OWNER, OWNER, InvalidError, "The owner cannot be muted"),
        (roles_group(), ADMIN, ADMIN, ForbiddenError, "may mute"),
        (roles_group(), MEMBER, 13, ForbiddenError, "may mute"),
        (roles_group(), MEMBER, MEMBER, ForbiddenError, "may mute"),
        (roles_group(DISSOLVED), OWNER, MEMBER, InvalidError, "dissolved"),
        (single(), OWNER, MEMBER, InvalidError, "Single chats have no mutes"),
    ],
)
def test_mutes_refused(
    state: Conversation, operator: int, target: int, error: type[Exception], detail: str
) -> None:
    with pytest.raises(error, match=detail):
        m.decide_update_member(state, operator, target, {"status": "muted"}, 2.0)


def test_nicknames() -> None:
    state = roles_group()
    (own,) = m.decide_update_member(state, MEMBER, MEMBER, {"nickname": "  Bo  "}, 2.0)
    assert own == c.MemberUpdated(1, MEMBER, MEMBER, nickname="Bo", at=2.0)
    assert m.decide_update_member(state, OWNER, MEMBER, {"nickname": "n" * 100}, 2.0)
    state = evolve(state, own)
    assert m.decide_update_member(state, MEMBER, MEMBER, {"nickname": "Bo"}, 3.0) == []
    (cleared,) = m.decide_update_member(state, MEMBER, MEMBER, {"nickname": "  "}, 3.0)
    assert isinstance(cleared, c.MemberUpdated) and cleared.nickname is None
    assert m.decide_update_member(single(), MEMBER, MEMBER, {"nickname": "me"}, 2.0)
    for operator in (ADMIN, 13):
        with pytest.raises(ForbiddenError, match="Only the member or the owner"):
            m.decide_update_member(state, operator, MEMBER, {"nickname": "x"}, 3.0)


def test_settings_changes_name_what_changed() -> None:
    state = roles_group()
    (updated,) = m.decide_update_settings(
        state, ADMIN, {"is_public": True, "name": "g", "avatar": "a", "unknown": 1}, 2.0
    )
    assert isinstance(updated, c.ConversationUpdated)
    assert updated.changed == ("avatar", "is_public")
    assert (updated.name, updated.avatar, updated.is_public, updated.max_members) == (
        "g",
        "a",
        True,
        500,
    )
    assert m.decide_update_settings(state, OWNER, {"name": "g"}, 2.0) == []
    assert m.decide_update_settings(state, OWNER, {}, 2.0) == []


def test_members_change_settings_only_where_allowed() -> None:
    with pytest.raises(ForbiddenError, match="Only the owner or an admin may change this group"):
        m.decide_update_settings(roles_group(), MEMBER, {"name": "h"}, 2.0)
    assert m.decide_update_settings(
        roles_group(allow_member_modify=True), MEMBER, {"name": "h"}, 2.0
    )


@pytest.mark.parametrize(
    ("state", "operator", "changes", "error", "detail"),
    [
        (single(), OWNER, {"name": "h"}, InvalidError, "Single chats have no settings"),
        (roles_group(), OUTSIDER, {"name": "h"}, ForbiddenError, "not a member"),
        (roles_group(DISSOLVED), OWNER, {"name": "h"}, InvalidError, "dissolved"),
        (roles_group(), OWNER, {"name": ""}, InvalidError, "name must be 1-100"),
        (roles_group(), OWNER, {"max_members": 3}, InvalidError, r"member count \(4\)"),
    ],
)
def test_settings_refused(
    state: Conversation,
    operator: int,
    changes: dict[str, object],
    error: type[Exception],
    detail: str,
) -> None:
    with pytest.raises(error, match=detail):
        m.decide_update_settings(state, operator, changes, 2.0)


def test_only_the_owner_dissolves_once() -> None:
    state = roles_group()
    assert m.decide_dissolve(state, OWNER, 2.0) == [c.ConversationDissolved(1, OWNER, at=2.0)]
    with pytest.raises(ForbiddenError, match="Only the owner may dissolve"):
        m.decide_dissolve(state, ADMIN, 2.0)
    with pytest.raises(ForbiddenError, match="not a member"):
        m.decide_dissolve(state, OUTSIDER, 2.0)
    assert m.decide_dissolve(roles_group(DISSOLVED), OWNER, 3.0) == []


def test_hiding_clearing_and_unhiding_are_per_member() -> None:
    state = single()
    assert m.decide_hide(state, MEMBER, 9, 2.0) == [c.ConversationHidden(2, MEMBER, 9, at=2.0)]
    assert m.decide_clear(state, OWNER, 9, 2.0) == [c.HistoryCleared(2, OWNER, 9, at=2.0)]
    for decide in (m.decide_hide, m.decide_clear):
        with pytest.raises(ForbiddenError, match="not a member"):
            decide(state, OUTSIDER, 9, 2.0)
        with pytest.raises(NotFoundError):
            decide(Conversation(), OWNER, 9, 2.0)
    assert m.decide_unhide(state, MEMBER, 3.0) == []
    hidden = evolve(state, c.ConversationHidden(2, MEMBER, 9))
    assert m.decide_unhide(hidden, MEMBER, 3.0) == [c.ConversationUnhidden(2, MEMBER, at=3.0)]
    assert m.decide_unhide(hidden, OWNER, 3.0) == []


def test_creating_an_invite_code() -> None:
    made = m.decide_create_invite(roles_group(), MEMBER, "k", 2.0, None, at=10.0)
    assert made == c.InviteCodeCreated(1, "k", MEMBER, expires_at=7210.0, max_uses=None, at=10.0)
    assert m.decide_create_invite(roles_group(), OWNER, "k", 24 * 365, 1, at=0.0).max_uses == 1
    assert m.decide_create_invite(roles_group(), OWNER, "k", 0.01, 1000, at=0.0).max_uses == 1000
    closed = roles_group(allow_invite=False)
    assert m.decide_create_invite(closed, ADMIN, "k", 1.0, None, at=0.0)


@pytest.mark.parametrize(
    ("state", "operator", "hours", "uses", "error", "detail"),
    [
        (single(), OWNER, 1.0, None, InvalidError, "Single chats have no invite codes"),
        (roles_group(), OUTSIDER, 1.0, None, ForbiddenError, "not a member"),
        (roles_group(DISSOLVED), OWNER, 1.0, None, InvalidError, "dissolved"),
        (roles_group(allow_invite=False), MEMBER, 1.0, None, ForbiddenError, "may invite"),
    ],
)
def test_invite_codes_refused(
    state: Conversation,
    operator: int,
    hours: float,
    uses: int | None,
    error: type[Exception],
    detail: str,
) -> None:
    with pytest.raises(error, match=detail):
        m.decide_create_invite(state, operator, "k", hours, uses, at=0.0)


def with_code(state: Conversation, max_uses: int | None = None) -> Conversation:
    return evolve(state, m.decide_create_invite(state, OWNER, "k", 1.0, max_uses, at=0.0))


def test_joining_with_a_code() -> None:
    state = with_code(roles_group())
    assert m.decide_join(state, 20, "k", 6, at=3599.0) == [
        c.MemberAdded(1, (20,), 20, seq=6, invite_code="k", at=3599.0)
    ]


@pytest.mark.parametrize(
    ("state", "user", "code", "at", "error", "detail"),
    [
        (Conversation(), 20, "k", 1.0, NotFoundError, "Conversation not found"),
        (with_code(roles_group()), 20, "nope", 1.0, NotFoundError, "Invite code not found"),
        (
            evolve(with_code(roles_group()), DISSOLVED),
            20,
            "k",
            1.0,
            InvalidError,
            "dissolved",
        ),
        (
            evolve(with_code(roles_group()), c.MemberRemoved(1, 13, OWNER)),
            13,
            "k",
            1.0,
            ForbiddenError,
            "You were removed from this group",
        ),
        (
            evolve(with_code(roles_group()), c.InviteCodeRevoked(1, "k", OWNER)),
            20,
            "k",
            1.0,
            InvalidError,
            "no longer valid",
        ),
        (with_code(roles_group()), 20, "k", 3600.0, InvalidError, "expired"),
        (
            evolve(with_code(roles_group(), 1), c.MemberAdded(1, (21,), 21, invite_code="k")),
            20,
            "k",
            1.0,
            InvalidError,
            "used up",
        ),
        (with_code(roles_group(max_members=4)), 20, "k", 1.0, InvalidError, "full"),
    ],
)
def test_joining_refused(
    state: Conversation, user: int, code: str, at: float, error: type[Exception], detail: str
) -> None:
    with pytest.raises(error, match=detail):
        m.decide_join(state, user, code, 0, at)


def test_revoking_an_invite_code() -> None:
    state = with_code(roles_group())
    assert m.decide_revoke_invite(state, ADMIN, "k", 2.0) == [
        c.InviteCodeRevoked(1, "k", ADMIN, at=2.0)
    ]
    revoked = evolve(state, c.InviteCodeRevoked(1, "k", ADMIN))
    assert m.decide_revoke_invite(revoked, OWNER, "k", 3.0) == []
    with pytest.raises(ForbiddenError, match="Only the owner or an admin may revoke"):
        m.decide_revoke_invite(state, MEMBER, "k", 2.0)
    with pytest.raises(NotFoundError, match="Invite code not found"):
        m.decide_revoke_invite(state, OWNER, "other", 2.0)
    with pytest.raises(InvalidError, match="Single chats have no invite codes"):
        m.decide_revoke_invite(single(), OWNER, "k", 2.0)


def test_only_managers_list_invite_codes() -> None:
    m.require_invite_manager(roles_group(), OWNER)
    m.require_invite_manager(roles_group(), ADMIN)
    with pytest.raises(ForbiddenError, match="Only the owner or an admin may list"):
        m.require_invite_manager(roles_group(), MEMBER)
    with pytest.raises(ForbiddenError, match="not a member"):
        m.require_invite_manager(roles_group(), OUTSIDER)
    with pytest.raises(InvalidError, match="Single chats have no invite codes"):
        m.require_invite_manager(single(), OWNER)


# -- a property over any sequence of requests ---------------------------------------------------

OPERATORS = st.sampled_from([10, 11, 12, 13, 14])  # owner, admin, members, an outsider
USERS = st.sampled_from([10, 11, 12, 13, 14, 15, 16])
REQUEST = st.one_of(
    st.tuples(
        st.just("add"), OPERATORS, st.lists(USERS, max_size=3), st.sampled_from(["member", "admin"])
    ),
    st.tuples(st.just("remove"), OPERATORS, OPERATORS),
    st.tuples(st.just("role"), OPERATORS, OPERATORS, st.sampled_from(["owner", "admin", "member"])),
    st.tuples(st.just("mute"), OPERATORS, OPERATORS, st.sampled_from(["muted", "active"])),
    st.tuples(st.just("settings"), OPERATORS, st.booleans(), st.integers(4, 8)),
    st.tuples(st.just("invite"), OPERATORS, st.sampled_from(["a", "b"])),
    st.tuples(st.just("join"), USERS, st.sampled_from(["a", "b"])),
    st.tuples(st.just("revoke"), OPERATORS, st.sampled_from(["a", "b"])),
)


def decide_request(state: Conversation, request: tuple[object, ...], at: float) -> list[Event]:
    match request:
        case ("add", int(op), list(users), str(role)):
            return m.decide_add_members(state, op, users, role, 0, at)  # type: ignore[arg-type]
        case ("remove", int(op), int(user)):
            return m.decide_remove_member(state, op, user, at)
        case ("role", int(op), int(user), str(role)):
            return m.decide_update_member(state, op, user, {"role": role}, at)
        case ("mute", int(op), int(user), str(status)):
            return m.decide_update_member(state, op, user, {"status": status}, at)
        case ("settings", int(op), bool(allow), int(size)):
            changes: dict[str, object] = {"allow_invite": allow, "max_members": size}
            return m.decide_update_settings(state, op, changes, at)
        case ("invite", int(op), str(code)):
            return [m.decide_create_invite(state, op, code, 1.0, 2, at)]
        case ("join", int(user), str(code)):
            return m.decide_join(state, user, code, 0, at)
        case ("revoke", int(op), str(code)):
            return m.decide_revoke_invite(state, op, code, at)
    raise AssertionError(request)


@given(st.lists(REQUEST, max_size=25))
def test_whatever_is_asked_a_group_keeps_its_invariants(requests: list[tuple[object, ...]]) -> None:
    """Accepted requests never leave a group without exactly one owner, over its size, with a
    barred member, or with a member-made invite code alive where members may not invite."""
    state = roles_group(max_members=6)  # owner 10, admin 11, members 12 and 13
    state = evolve(state, m.decide_create_invite(state, 12, "a", 1.0, 2, at=1.0))
    for at, request in enumerate(requests, start=2):
        try:
            events = decide_request(state, request, float(at))
        except DomainError:
            continue
        state = evolve_all(state, events)
        owners = [u for u, member in state.members.items() if member.role == "owner"]
        assert len(owners) == 1, owners
        assert len(state.members) <= state.max_members
        assert not state.barred & state.members.keys()
        for code, invite in state.invites.items():
            creator = state.members.get(invite.created_by)
            if not invite.revoked:
                assert creator is not None, code
                assert may_invite(state, creator), code
            assert invite.max_uses is None or invite.uses <= invite.max_uses
