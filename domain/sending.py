"""The sending rules, pure: what a draft must hold, who may send, what a batch of drafts becomes.

``commands/sending.py`` only queues drafts per conversation and appends what ``decide_batch``
decides (group commit); it holds no rule of its own.
"""

from __future__ import annotations

from collections.abc import Container, Sequence

import msgspec

from domain import conversations as c
from domain import messages as msg
from domain.conversation import Conversation, check_can_send, require_exists
from domain.errors import DomainError

Key = tuple[int, str]
"""An idempotency key: (sender id, client_msg_id)."""


class Draft(msgspec.Struct, frozen=True):
    """A message before it has a seq: the send command. ``system`` drafts skip the sender
    checks (the server writes them, e.g. "A added B")."""

    conversation_id: int
    sender_id: int
    message_type: c.MessageType
    content: str = ""
    reply_to_id: int | None = None
    client_msg_id: str | None = None
    file_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    system: bool = False

    @property
    def key(self) -> Key | None:
        return None if self.client_msg_id is None else (self.sender_id, self.client_msg_id)


def validate_draft(draft: Draft) -> None:
    """What a draft must hold whatever the conversation (400 otherwise): a text says something."""
    if draft.message_type == "text":
        msg.validate_content(draft.content)


def may_send(state: Conversation, sender_id: int, now: float) -> None:
    """404 for an unknown conversation; 403 unless the user may send there now."""
    require_exists(state)
    check_can_send(state, sender_id, now)


def check_sender(state: Conversation, draft: Draft, now: float) -> None:
    """``may_send`` for the draft's sender (system drafts: only that the conversation exists)."""
    if draft.system:
        require_exists(state)
    else:
        may_send(state, draft.sender_id, now)


def decide_send(
    state: Conversation, draft: Draft, message_id: int, seq: int, at: float
) -> c.MessageSent:
    """The event of one send, or the DomainError that refuses it."""
    check_sender(state, draft, at)
    return c.MessageSent(
        message_id=message_id,
        conversation_id=draft.conversation_id,
        seq=seq,
        sender_id=draft.sender_id,
        message_type=draft.message_type,
        content=draft.content,
        reply_to_id=draft.reply_to_id,
        client_msg_id=draft.client_msg_id,
        file_id=draft.file_id,
        latitude=draft.latitude,
        longitude=draft.longitude,
        address=draft.address,
        at=at,
    )


class Repeat(msgspec.Struct, frozen=True):
    """The draft repeats an idempotency key sent before (or earlier in the same batch): it is
    answered with that send, and writes nothing."""

    key: Key


Decision = c.MessageSent | Repeat | DomainError


def decide_batch(
    state: Conversation,
    drafts: Sequence[tuple[Draft, int]],
    last_seq: int,
    sent_keys: Container[Key],
    at: float,
) -> list[Decision]:
    """One decision per (draft, message id), in order: new messages take consecutive seqs after
    ``last_seq``; ``sent_keys`` are the idempotency keys already sent in this conversation."""
    seq = last_seq
    taken: set[Key] = set()
    out: list[Decision] = []
    for draft, message_id in drafts:
        key = draft.key
        if key is not None and (key in sent_keys or key in taken):
            out.append(Repeat(key))
            continue
        try:
            event = decide_send(state, draft, message_id, seq + 1, at)
        except DomainError as refused:
            out.append(refused)
            continue
        seq += 1
        if key is not None:
            taken.add(key)
        out.append(event)
    return out
