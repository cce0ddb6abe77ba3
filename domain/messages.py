"""Message rules: content limits, edit and recall decisions, system-message texts (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, assert_never

import msgspec

from domain import conversations as c
from domain.conversation import MANAGERS, Conversation, require_member
from domain.errors import ForbiddenError, InvalidError
from domain.events import Event

MAX_CONTENT = 5000
MAX_CLIENT_MSG_ID = 64


class MessageRef(msgspec.Struct, frozen=True):
    """The immutable facts of a sent message that edit and recall decisions need."""

    message_id: int
    conversation_id: int
    seq: int
    sender_id: int
    message_type: c.MessageType
    at: float
    file_id: str | None = None


class MessageState(msgspec.Struct):
    """What ``message-{id}`` says about a message: edited/recalled."""

    status: Literal["sent", "edited", "recalled"] = "sent"


def evolve_message(state: MessageState, event: Event) -> MessageState:
    if not isinstance(event, c.MessageEvent):
        return state
    match event:
        case c.MessageEdited():
            return MessageState(status="edited")
        case c.MessageRecalled():
            return MessageState(status="recalled")
        case c.MessageSent() | c.ReadMarked():
            return state
        case _:
            assert_never(event)


def validate_content(content: str) -> None:
    """A text says something. Its length (up to ``MAX_CONTENT``) is the request schema's, as is
    a client_msg_id's (1-``MAX_CLIENT_MSG_ID``)."""
    if not content.strip():
        raise InvalidError("content must not be empty")


def location_content(latitude: float, longitude: float, address: str | None) -> str:
    """The readable line of a location (its coordinates are in range: the request schema's)."""
    where = f"{latitude:.6f}, {longitude:.6f}"
    return f"[Location] {address} ({where})" if address else f"[Location] {where}"


def decide_edit(
    conv: Conversation,
    ref: MessageRef,
    state: MessageState,
    editor_id: int,
    content: str,
    now: float,
    window_s: float,
) -> list[c.MessageEdited]:
    require_member(conv, editor_id)
    if ref.sender_id != editor_id:
        raise ForbiddenError("Only the sender may edit a message")
    if conv.status != "active":
        raise ForbiddenError("The group has been dissolved; nothing can be changed")
    if ref.message_type != "text":
        raise InvalidError("Only text messages can be edited")
    if state.status == "recalled":
        raise InvalidError("A recalled message cannot be edited")
    if now - ref.at > window_s:
        raise InvalidError("The edit window for this message has passed")
    validate_content(content)
    edited = c.MessageEdited(
        ref.message_id, ref.conversation_id, ref.seq, editor_id, content, at=now
    )
    return [edited]


def decide_recall(
    conv: Conversation,
    ref: MessageRef,
    state: MessageState,
    operator_id: int,
    now: float,
    window_s: float,
) -> list[c.MessageRecalled]:
    """Sender within the window; a group's owner/admin any time. Recalling twice is a no-op."""
    member = require_member(conv, operator_id)
    if ref.message_type == "system":
        raise InvalidError("System messages cannot be recalled")
    manager = conv.is_group and member.role in MANAGERS
    if not manager:
        if ref.sender_id != operator_id:
            raise ForbiddenError("Only the sender or a group owner/admin may recall a message")
        if now - ref.at > window_s:
            raise InvalidError("The recall window for this message has passed")
    if state.status == "recalled":
        return []
    return [
        c.MessageRecalled(
            ref.message_id, ref.conversation_id, ref.seq, operator_id, at=now, file_id=ref.file_id
        )
    ]


# -- system messages ----------------------------------------------------------------------------


def _names(ids: Sequence[int], names: dict[int, str]) -> str:
    return ", ".join(names.get(i, f"user {i}") for i in ids)


def system_text(event: Event, names: dict[int, str]) -> str | None:
    """The history line a membership/settings event writes, or None if it writes none."""
    match event:
        case c.ConversationCreated(conversation_type="group"):
            return f"{_names([event.creator_id], names)} created the group {event.name}"
        case c.MemberAdded() if event.invite_code is not None:
            return f"{_names(event.user_ids, names)} joined the group with an invite code"
        case c.MemberAdded():
            return f"{_names([event.operator_id], names)} added {_names(event.user_ids, names)}"
        case c.MemberRemoved(is_self_exit=True):
            return f"{_names([event.user_id], names)} left the group"
        case c.MemberRemoved():
            return f"{_names([event.operator_id], names)} removed {_names([event.user_id], names)}"
        case c.MemberRoleChanged(new_role="owner"):
            op, new = _names([event.operator_id], names), _names([event.user_id], names)
            return f"{op} transferred ownership to {new}"
        case c.ConversationUpdated() if "name" in event.changed:
            return f"{_names([event.operator_id], names)} renamed the group to {event.name}"
    return None


def system_user_ids(event: Event) -> list[int]:
    """Users whose names ``system_text`` needs."""
    match event:
        case c.ConversationCreated():
            return [event.creator_id]
        case c.MemberAdded():
            return [event.operator_id, *event.user_ids]
        case c.MemberRemoved() | c.MemberRoleChanged():
            return [event.operator_id, event.user_id]
        case c.ConversationUpdated():
            return [event.operator_id]
    return []
