"""domain/sending.py: the sending rules, without a store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import conversations as c
from domain.conversation import Conversation, evolve_all
from domain.errors import ForbiddenError, InvalidError, NotFoundError
from domain.sending import (
    Draft,
    Repeat,
    check_sender,
    decide_batch,
    decide_send,
    may_send,
    validate_draft,
)

NOW = 1_000.0


def group(*events: c.ConversationEvent) -> Conversation:
    created = c.ConversationCreated(
        conversation_id=7, conversation_type="group", creator_id=1, member_ids=(1, 2), name="g"
    )
    return evolve_all(Conversation(), [created, *events])


def text(sender: int, key: str | None = None, content: str = "hi") -> Draft:
    return Draft(7, sender, "text", content, client_msg_id=key)


def test_a_member_sends_with_the_next_seq() -> None:
    event = decide_send(group(), text(2), message_id=50, seq=4, at=NOW)
    assert (event.message_id, event.seq, event.sender_id, event.at) == (50, 4, 2, NOW)
    assert event.content == "hi"


def test_who_may_not_send() -> None:
    with pytest.raises(NotFoundError):
        decide_send(Conversation(), text(1), 1, 1, NOW)
    with pytest.raises(ForbiddenError):
        decide_send(group(), text(3), 1, 1, NOW)  # not a member
    muted = group(c.MemberUpdated(7, 2, operator_id=1, status="muted", muted_until=NOW + 60))
    with pytest.raises(ForbiddenError):
        decide_send(muted, text(2), 1, 1, NOW)
    assert decide_send(muted, text(2), 1, 1, NOW + 61).seq == 1  # the mute is over
    dissolved = group(c.ConversationDissolved(7, operator_id=1))
    with pytest.raises(ForbiddenError):
        decide_send(dissolved, text(1), 1, 1, NOW)


def test_system_drafts_skip_the_sender_checks() -> None:
    draft = Draft(7, 99, "system", "A added B", system=True)
    assert decide_send(group(), draft, 1, 1, NOW).sender_id == 99
    with pytest.raises(NotFoundError):
        decide_send(Conversation(), draft, 1, 1, NOW)


def test_validate_draft() -> None:
    validate_draft(Draft(7, 1, "image", ""))  # only text needs content
    validate_draft(Draft(7, 1, "location", " "))
    validate_draft(text(1, content=" x "))
    for blank in ("", "  ", "\n\t"):
        with pytest.raises(InvalidError, match="content must not be empty"):
            validate_draft(text(1, content=blank))


def test_a_batch_takes_consecutive_seqs_and_skips_refusals() -> None:
    drafts = [(text(1), 10), (text(3), 11), (text(2), 12)]
    out = decide_batch(group(), drafts, last_seq=5, sent_keys=set(), at=NOW)
    assert isinstance(out[1], ForbiddenError)
    assert [(d.message_id, d.seq) for d in out if isinstance(d, c.MessageSent)] == [
        (10, 6),
        (12, 7),
    ]


def test_repeated_keys_write_nothing() -> None:
    drafts = [(text(1, "a"), 10), (text(1, "b"), 11), (text(1, "b"), 12), (text(2, "b"), 13)]
    out = decide_batch(group(), drafts, last_seq=0, sent_keys={(1, "a")}, at=NOW)
    assert out[0] == Repeat((1, "a"))  # sent before
    assert isinstance(out[1], c.MessageSent) and out[1].seq == 1
    assert out[2] == Repeat((1, "b"))  # earlier in the same batch
    assert isinstance(out[3], c.MessageSent) and out[3].seq == 2  # another sender's key


def test_a_refused_first_send_does_not_make_its_key_a_repeat() -> None:
    state = group(c.MemberRemoved(7, 2, operator_id=1))
    out = decide_batch(state, [(text(2, "k"), 1), (text(2, "k"), 2)], 0, set(), NOW)
    assert all(isinstance(d, ForbiddenError) for d in out)


@given(st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.sampled_from([None, "a", "b"]))))
def test_seqs_are_gapless_and_keys_unique(sends: list[tuple[int, str | None]]) -> None:
    drafts = [(text(u, k), i) for i, (u, k) in enumerate(sends)]
    out = decide_batch(group(), drafts, last_seq=3, sent_keys=set(), at=NOW)
    events = [d for d in out if isinstance(d, c.MessageSent)]
    assert [e.seq for e in events] == list(range(4, 4 + len(events)))
    keys = [(e.sender_id, e.client_msg_id) for e in events if e.client_msg_id is not None]
    assert len(keys) == len(set(keys))
    assert all(
        isinstance(d, ForbiddenError) for (u, _), d in zip(sends, out, strict=True) if u == 3
    )


def test_the_event_carries_every_field_of_the_draft() -> None:
    draft = Draft(
        7,
        2,
        "location",
        "[Location] here",
        reply_to_id=3,
        client_msg_id="k1",
        file_id=None,
        latitude=1.5,
        longitude=2.5,
        address="here",
    )
    assert decide_send(group(), draft, message_id=50, seq=4, at=NOW) == c.MessageSent(
        message_id=50,
        conversation_id=7,
        seq=4,
        sender_id=2,
        message_type="location",
        content="[Location] here",
        reply_to_id=3,
        client_msg_id="k1",
        latitude=1.5,
        longitude=2.5,
        address="here",
        at=NOW,
    )
    image = Draft(7, 2, "image", file_id="f" * 32)
    assert decide_send(group(), image, 51, 5, NOW).file_id == "f" * 32


def test_the_idempotency_key_is_the_sender_and_client_msg_id() -> None:
    assert text(2).key is None
    assert text(2, "k").key == (2, "k")


def test_the_server_still_writes_into_a_dissolved_group() -> None:
    dissolved = group(c.ConversationDissolved(7, operator_id=1))
    system = Draft(7, 1, "system", "the group was dissolved", system=True)
    check_sender(dissolved, system, NOW)
    assert decide_send(dissolved, system, 1, 1, NOW).message_type == "system"
    with pytest.raises(ForbiddenError, match="dissolved"):
        check_sender(dissolved, text(1), NOW)


def test_may_send() -> None:
    may_send(group(), 1, NOW)
    with pytest.raises(NotFoundError, match="Conversation not found"):
        may_send(Conversation(), 1, NOW)
    with pytest.raises(ForbiddenError, match="not a member"):
        may_send(group(), 3, NOW)


def test_a_batch_mixes_system_lines_and_sends() -> None:
    drafts = [(Draft(7, 1, "system", "A added B", system=True), 1), (text(2, "k"), 2)]
    out = decide_batch(group(), drafts, last_seq=9, sent_keys=set(), at=NOW)
    assert [(d.seq, d.message_type) for d in out if isinstance(d, c.MessageSent)] == [
        (10, "system"),
        (11, "text"),
    ]
    assert decide_batch(group(), [], last_seq=9, sent_keys=set(), at=NOW) == []
