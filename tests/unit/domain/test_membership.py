"""domain/membership.py: decisions on a conversation's membership and settings, each refusal
with its error, through ``evolve`` (pure)."""

from __future__ import annotations

import pytest

from domain import conversations as c
from domain import membership as m
from domain.conversation import Conversation, check_can_send, evolve, evolve_all
from domain.errors import ForbiddenError, InvalidError, NotFoundError


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
