"""domain/conversation.py: the Conversation aggregate's ``evolve`` and its checks (pure)."""

from __future__ import annotations

import pytest

from domain.conversation import (
    MAX_MEMBERS_LIMIT,
    Conversation,
    check_can_send,
    require_exists,
    require_member,
    validate_settings,
)
from domain.errors import InvalidError, NotFoundError


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
