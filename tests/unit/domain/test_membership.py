"""The conversation aggregate and message rules as pure functions, the chat projections as
pure functions of one event, and iso() against datetime."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import conversations as c
from domain import membership as m
from domain import messages as msg
from domain.conversation import (
    MAX_MEMBERS_LIMIT,
    Conversation,
    check_can_send,
    evolve,
    evolve_all,
    require_exists,
    require_member,
    validate_settings,
)
from domain.errors import ForbiddenError, InvalidError, NotFoundError
from domain.store import RecordedEvent
from projections.conversations import ConversationsProjection
from projections.messages import MessagesProjection
from projections.store import Patch, Put, apply_patch
from queries.views import iso


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


def test_edit_and_recall_windows() -> None:
    state = _group(11)
    ref = msg.MessageRef(1, 1, 2, 11, "text", at=100.0)
    assert msg.decide_edit(state, ref, msg.MessageState(), 11, "new", 150.0, 60.0)
    with pytest.raises(InvalidError):
        msg.decide_edit(state, ref, msg.MessageState(), 11, "new", 161.0, 60.0)
    with pytest.raises(ForbiddenError):
        msg.decide_recall(state, ref, msg.MessageState(), 12, 101.0, 60.0)
    assert msg.decide_recall(state, ref, msg.MessageState(), 10, 10_000.0, 60.0)  # the owner
    assert msg.decide_recall(state, ref, msg.MessageState("recalled"), 11, 101.0, 60.0) == []


def test_system_texts() -> None:
    names = {10: "Ann", 11: "Bo"}
    added = c.MemberAdded(conversation_id=1, user_ids=(11,), operator_id=10)
    assert msg.system_text(added, names) == "Ann added Bo"
    left = c.MemberRemoved(conversation_id=1, user_id=11, operator_id=11, is_self_exit=True)
    assert msg.system_text(left, names) == "Bo left the group"
    assert msg.system_text(c.ReadMarked(1, 10, 3), names) is None


def _rec(position: int) -> RecordedEvent:
    return RecordedEvent("id", "s-1", 0, position, "T", b"", b"", 0.0)


@given(st.lists(st.integers(1, 50), min_size=1, max_size=30))
def test_watermark_never_moves_back(seqs: list[int]) -> None:
    """Read marks (in any order, redelivered or not) leave the highest one."""
    doc: dict[str, object] | None = {"last_read_seq": 0}
    for i, seq in enumerate(seqs + seqs):
        (op,) = ConversationsProjection().handle(c.ReadMarked(1, 2, seq, at=float(i)), _rec(i))
        assert isinstance(op, Patch)
        doc = apply_patch(doc, op)
    assert doc is not None and doc["last_read_seq"] == max(seqs)


def test_message_projection_keeps_recalled_content_out_of_search() -> None:
    sent = c.MessageSent(message_id=5, conversation_id=1, seq=1, sender_id=2,
                         message_type="text", content="secret", at=1.0)  # fmt: skip
    (put,) = MessagesProjection().handle(sent, _rec(1))
    assert isinstance(put, Put) and put.doc.search_text == "secret"
    (patch,) = MessagesProjection().handle(c.MessageRecalled(5, 1, 1, 2, at=2.0), _rec(2))
    assert isinstance(patch, Patch)
    doc = apply_patch(put.doc, patch)
    assert doc is not None and doc["content"] == "" and doc["search_text"] == ""


@given(st.floats(min_value=-1e9, max_value=4e9, allow_nan=False))
def test_iso_matches_datetime(ts: float) -> None:
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    assert iso(ts) == d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def test_an_unknown_conversation_is_not_found_not_forbidden() -> None:
    for check in (
        lambda: require_exists(Conversation()),
        lambda: require_member(Conversation(), 10),
        lambda: check_can_send(Conversation(), 10, 0.0),
    ):
        with pytest.raises(NotFoundError):
            check()


def test_settings_limits_at_their_edges() -> None:
    validate_settings({"name": "n" * 100, "max_members": 2}, 2)
    validate_settings({"max_members": MAX_MEMBERS_LIMIT}, 2)
    bads: list[dict[str, object]] = [
        {"name": "n" * 101},
        {"name": "  "},
        {"max_members": 1},
        {"max_members": MAX_MEMBERS_LIMIT + 1},
        {"max_members": "9"},
    ]
    for bad in bads:
        with pytest.raises(InvalidError):
            validate_settings(bad, 1)
    with pytest.raises(InvalidError, match="below the member count"):
        validate_settings({"max_members": 3}, 4)


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
