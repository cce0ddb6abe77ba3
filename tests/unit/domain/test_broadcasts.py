"""domain/broadcasts.py: validating a superuser's announcement."""

from __future__ import annotations

import re
from typing import Any

import pytest

from domain.broadcasts import MAX_TARGETS, BroadcastSent, broadcast_stream, decide_broadcast
from domain.errors import InvalidError


def decide(**changes: Any) -> BroadcastSent:
    args: dict[str, Any] = {
        "broadcast_id": 3,
        "sender_id": 1,
        "title": "Maintenance",
        "content": "Tonight",
        "priority": "normal",
        "target_user_ids": None,
        "attachments": [],
        "recipients": 10,
        "at": 5.0,
    }
    return decide_broadcast(**{**args, **changes})


def test_a_broadcast_to_everyone() -> None:
    sent = decide(attachments=["f1"])
    assert sent == BroadcastSent(
        broadcast_id=3,
        sender_id=1,
        title="Maintenance",
        content="Tonight",
        priority="normal",
        target_user_ids=None,
        attachments=["f1"],
        recipients=10,
        at=5.0,
    )
    assert broadcast_stream(3) == "broadcast-3"


@pytest.mark.parametrize("priority", ["low", "normal", "high"])
def test_every_priority_is_accepted(priority: str) -> None:
    assert decide(priority=priority).priority == priority


def test_targets_are_deduplicated_in_their_order() -> None:
    assert decide(target_user_ids=[5, 2, 5, 9, 2]).target_user_ids == [5, 2, 9]


def test_the_attachments_are_the_events_own_list() -> None:
    attachments = ["f1"]
    sent = decide(attachments=attachments)
    attachments.append("f2")
    assert sent.attachments == ["f1"]


def test_as_many_targets_as_allowed() -> None:
    targets = list(range(1, MAX_TARGETS + 1))
    assert decide(target_user_ids=[*targets, 1]).target_user_ids == targets


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"title": ""}, "title must not be empty"),
        ({"title": "  \n"}, "title must not be empty"),
    ],
)
def test_refusals(changes: dict[str, Any], detail: str) -> None:
    with pytest.raises(InvalidError, match=re.escape(detail)):
        decide(**changes)
