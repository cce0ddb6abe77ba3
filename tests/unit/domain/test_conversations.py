"""domain/conversations.py: the streams conversation and message events live in."""

from __future__ import annotations

import typing

from hypothesis import given
from hypothesis import strategies as st

from domain import conversations as c
from domain.events import type_names

IDS = st.integers(1, 2**53 - 1)


def test_stream_names() -> None:
    assert c.conversation_stream(5) == "conversation-5"
    assert c.messages_stream(5) == "messages-5"
    assert c.message_stream(900) == "message-900"
    assert c.reads_stream(5, 7) == "reads-5-7"


@given(IDS, IDS)
def test_a_pair_has_one_stream_whoever_asks(a: int, b: int) -> None:
    stream = c.pair_stream(a, b)
    assert stream == c.pair_stream(b, a)
    assert stream == f"pair-{min(a, b)}-{max(a, b)}"


def test_file_message_types_are_message_types() -> None:
    assert set(c.FILE_TYPES) < set(typing.get_args(c.MessageType))
    assert "text" not in c.FILE_TYPES and "system" not in c.FILE_TYPES


def test_the_unions_do_not_overlap() -> None:
    unions = (c.ConversationEvent, c.MessageEvent, c.PairEvent)
    names = [type_names(u) for u in unions]
    assert sum(len(n) for n in names) == len(frozenset().union(*names))
    assert "MessageSent" in names[1] and "PairClaimed" in names[2]
