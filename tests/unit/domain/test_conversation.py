"""domain/conversation.py: the Conversation aggregate's ``evolve`` and its checks (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import conversations as c
from domain.conversation import (
    MAX_MEMBERS_LIMIT,
    Conversation,
    Invite,
    Member,
    check_can_send,
    evolve,
    evolve_all,
    may_invite,
    require_active,
    require_exists,
    require_group,
    require_member,
    validate_settings,
)
from domain.errors import ForbiddenError, InvalidError, NotFoundError
from domain.users import UserRenamed

CREATED = c.ConversationCreated(
    conversation_id=1,
    conversation_type="group",
    creator_id=10,
    member_ids=(10, 11, 12),
    name="g",
    description="d",
    avatar="a.png",
    max_members=50,
    allow_invite=True,
    allow_member_modify=True,
    is_public=True,
    at=100.0,
)


def group(*events: c.ConversationEvent) -> Conversation:
    return evolve_all(Conversation(), [CREATED, *events])


def invite(code: str, by: int, at: float = 101.0) -> c.InviteCodeCreated:
    return c.InviteCodeCreated(1, code, by, expires_at=9999.0, max_uses=5, at=at)


def live(state: Conversation) -> set[str]:
    return {code for code, inv in state.invites.items() if not inv.revoked}


def settings(state: Conversation, **changes: object) -> c.ConversationUpdated:
    values = {**state.settings(), **changes}
    return c.ConversationUpdated(1, 10, **values)  # type: ignore[arg-type]


# -- evolve -------------------------------------------------------------------------------------


def test_a_created_group_has_its_settings_and_the_creator_owns_it() -> None:
    state = group()
    assert state.exists and state.is_group and state.status == "active"
    assert state.owner_id == 10 and state.creator_id == 10
    assert {u: m.role for u, m in state.members.items()} == {
        10: "owner",
        11: "member",
        12: "member",
    }
    assert all(m.joined_at == 100.0 for m in state.members.values())
    assert state.settings() == {
        "name": "g",
        "description": "d",
        "avatar": "a.png",
        "max_members": 50,
        "allow_invite": True,
        "allow_member_modify": True,
        "is_public": True,
    }
    assert state.created_at == 100.0


def test_a_single_chat_has_two_plain_members_and_no_owner() -> None:
    created = c.ConversationCreated(2, "single", 10, (10, 11), max_members=2)
    state = evolve(Conversation(), created)
    assert not state.is_group and state.owner_id is None
    assert {u: m.role for u, m in state.members.items()} == {10: "member", 11: "member"}


def test_events_of_other_aggregates_change_nothing() -> None:
    state = group()
    assert evolve(state, UserRenamed(user_id=10, name="x")) is state
    assert evolve(state, c.MessageSent(1, 1, 1, 10, "text")) is state
    assert evolve(state, c.HistoryCleared(1, 10, 5)) is state


def test_added_members_get_their_role_and_join_time() -> None:
    state = group(c.MemberAdded(1, (13, 14), 10, role="admin", at=200.0))
    assert state.members[13] == Member(role="admin", joined_at=200.0)
    assert state.members[14].role == "admin" and len(state.members) == 5


def test_joining_with_a_code_counts_its_uses() -> None:
    state = group(invite("k", 10), c.MemberAdded(1, (13, 14), 13, invite_code="k"))
    assert state.invites["k"].uses == 2
    state = evolve(state, c.MemberAdded(1, (15,), 15, invite_code="gone"))  # an unknown code
    assert state.invites["k"].uses == 2 and 15 in state.members


def test_removal_by_someone_else_bars_rejoining_until_added_again() -> None:
    state = group(c.MemberRemoved(1, 11, operator_id=10))
    assert 11 not in state.members and state.barred == {11}
    state = evolve(state, c.MemberAdded(1, (11,), 10))
    assert 11 in state.members and state.barred == frozenset()


@pytest.mark.parametrize(
    "left",
    [c.MemberRemoved(1, 11, operator_id=11, is_self_exit=True), c.MemberRemoved(1, 11, 11)],
)
def test_leaving_does_not_bar(left: c.MemberRemoved) -> None:
    state = group(left)
    assert 11 not in state.members and state.barred == frozenset()


def test_a_removed_members_invites_die_with_them() -> None:
    state = group(invite("mine", 11), invite("owner", 10), c.MemberRemoved(1, 11, 10))
    assert live(state) == {"owner"} and state.invites["mine"].revoked
    state = group(invite("mine", 11), c.MemberRemoved(1, 11, 11, is_self_exit=True))
    assert live(state) == set()


def test_role_changes() -> None:
    state = group(c.MemberRoleChanged(1, 11, "member", "admin", 10, at=5.0))
    assert state.members[11].role == "admin"
    assert evolve(state, c.MemberRoleChanged(1, 99, "member", "admin", 10)) is state


def test_a_demoted_inviter_loses_their_codes_only_where_members_may_not_invite() -> None:
    closed = settings(group(), allow_invite=False)
    state = group(
        c.MemberRoleChanged(1, 11, "member", "admin", 10), closed, invite("k", 11), invite("o", 10)
    )
    assert live(state) == {"k", "o"}  # managers invite while members may not
    demoted = evolve(state, c.MemberRoleChanged(1, 11, "admin", "member", 10))
    assert live(demoted) == {"o"}
    promoted = evolve(state, c.MemberRoleChanged(1, 11, "admin", "owner", 10))
    assert live(promoted) == {"k", "o"}
    open_group = group(c.MemberRoleChanged(1, 11, "member", "admin", 10), invite("k", 11))
    assert live(evolve(open_group, c.MemberRoleChanged(1, 11, "admin", "member", 10))) == {"k"}


def test_member_updates_set_nickname_and_mute() -> None:
    update = c.MemberUpdated(1, 11, 10, nickname="Bo", status="muted", muted_until=500.0)
    state = group(update)
    assert state.members[11] == Member(
        role="member", nickname="Bo", status="muted", muted_until=500.0, joined_at=100.0
    )
    assert evolve(state, c.MemberUpdated(1, 99, 10, nickname="x")) is state


def test_settings_updates_replace_the_settings() -> None:
    state = group()
    new = settings(state, name="h", max_members=60, is_public=False, description=None)
    assert evolve(state, new).settings() == {
        **state.settings(),
        "name": "h",
        "max_members": 60,
        "is_public": False,
        "description": None,
    }


def test_turning_invites_off_kills_every_code_and_turning_them_on_revives_none() -> None:
    state = group(invite("a", 10), invite("b", 11))
    state = evolve(state, settings(state, allow_invite=False))
    assert live(state) == set()
    state = evolve(state, settings(state, allow_invite=True))
    assert live(state) == set()
    unchanged = group(invite("a", 10))
    assert live(evolve(unchanged, settings(unchanged, name="renamed"))) == {"a"}


def test_dissolving_hiding_and_invite_codes() -> None:
    state = group(c.ConversationDissolved(1, 10))
    assert state.status == "dissolved"
    state = group(c.ConversationHidden(1, 11, 5), c.ConversationHidden(1, 12, 5))
    assert state.hidden == {11, 12}
    assert evolve(state, c.ConversationUnhidden(1, 11)).hidden == {12}
    state = group(invite("k", 11, at=150.0))
    assert state.invites["k"] == Invite(
        expires_at=9999.0, max_uses=5, uses=0, created_by=11, created_at=150.0
    )
    revoked = evolve(state, c.InviteCodeRevoked(1, "k", 10))
    assert revoked.invites["k"].revoked
    assert evolve(revoked, c.InviteCodeRevoked(1, "k", 10)) is revoked


@given(st.lists(st.sampled_from(range(6)), max_size=12), st.integers(0, 12))
def test_folding_in_two_parts_is_folding_once(picks: list[int], cut: int) -> None:
    """Replay from scratch equals applying the rest to a state rebuilt from a prefix."""
    pool: list[c.ConversationEvent] = [
        c.MemberAdded(1, (13,), 10),
        c.MemberRemoved(1, 11, 10),
        c.MemberRoleChanged(1, 12, "member", "admin", 10),
        invite("k", 12),
        c.ConversationHidden(1, 10, 3),
        c.MemberUpdated(1, 12, 10, status="muted"),
    ]
    events = [CREATED, *(pool[i] for i in picks)]
    whole = evolve_all(Conversation(), events)
    assert evolve_all(evolve_all(Conversation(), events[:cut]), events[cut:]) == whole


# -- checks -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "now", "muted"),
    [
        (Member(), 0.0, False),
        (Member(status="muted"), 1e12, True),  # no end: muted until unmuted
        (Member(status="muted", muted_until=50.0), 49.9, True),
        (Member(status="muted", muted_until=50.0), 50.0, False),
        (Member(status="active", muted_until=50.0), 10.0, False),
    ],
)
def test_is_muted(member: Member, now: float, muted: bool) -> None:
    assert member.is_muted(now) is muted


def test_only_members_pass_require_member() -> None:
    state = group()
    assert require_member(state, 11) is state.members[11]
    with pytest.raises(ForbiddenError, match="not a member"):
        require_member(state, 99)
    assert require_exists(state) is state


def test_single_chats_and_dissolved_groups_refuse_group_changes() -> None:
    single = evolve(Conversation(), c.ConversationCreated(2, "single", 10, (10, 11)))
    with pytest.raises(InvalidError, match="Single chats have no roles"):
        require_group(single, "roles")
    require_group(group(), "roles")
    with pytest.raises(InvalidError, match="dissolved"):
        require_active(group(c.ConversationDissolved(1, 10)))
    require_active(group())


def test_who_may_send() -> None:
    check_can_send(group(), 11, 0.0)
    with pytest.raises(ForbiddenError, match="not a member"):
        check_can_send(group(), 99, 0.0)
    with pytest.raises(ForbiddenError, match="dissolved"):
        check_can_send(group(c.ConversationDissolved(1, 10)), 11, 0.0)
    with pytest.raises(ForbiddenError, match="muted"):
        check_can_send(group(c.MemberUpdated(1, 11, 10, status="muted")), 11, 0.0)


def test_who_may_invite() -> None:
    state = group(c.MemberRoleChanged(1, 11, "member", "admin", 10))
    closed = evolve(state, settings(state, allow_invite=False))
    for s in (state, closed):
        assert may_invite(s, s.members[10]) and may_invite(s, s.members[11])
    assert may_invite(state, state.members[12])
    assert not may_invite(closed, closed.members[12])


def test_an_unknown_conversation_is_not_found_not_forbidden() -> None:
    for check in (
        lambda: require_exists(Conversation()),
        lambda: require_member(Conversation(), 10),
        lambda: check_can_send(Conversation(), 10, 0.0),
    ):
        with pytest.raises(NotFoundError):
            check()


def test_settings_rules_at_their_edges() -> None:
    validate_settings({"name": "n" * 100, "max_members": 2}, 2)
    validate_settings({"name": " n ", "max_members": MAX_MEMBERS_LIMIT}, MAX_MEMBERS_LIMIT)
    for blank in ("", "  ", "\t\n"):
        with pytest.raises(InvalidError, match="name must be 1-100 characters"):
            validate_settings({"name": blank}, 1)
    with pytest.raises(InvalidError, match=r"below the member count \(4\)"):
        validate_settings({"max_members": 3}, 4)
