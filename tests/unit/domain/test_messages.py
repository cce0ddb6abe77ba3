"""domain/messages.py: content limits, edit and recall decisions, system-message texts (pure)."""

from __future__ import annotations

import pytest

from domain import conversations as c
from domain import membership as m
from domain import messages as msg
from domain.conversation import Conversation, evolve
from domain.errors import ForbiddenError, InvalidError


def _group(*members: int) -> Conversation:
    created = m.decide_create_group(1, 10, list(members), {"name": "g"}, at=100.0)
    return evolve(Conversation(), created)


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
