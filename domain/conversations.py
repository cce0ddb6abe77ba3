"""Conversation and message events, and the streams they live in.

Streams (each event also names its ``conversation_id``, so a consumer needs no lookup):

- ``conversation-{id}``: membership and settings (created, members added/removed, roles, mutes,
  nicknames, settings, dissolve, per-user hide/clear, invite codes). Small: never messages.
- ``messages-{id}``: only ``MessageSent``, one event per message, so ``seq == version + 1`` and the
  stream's last event gives the next ``seq`` without reading the history.
- ``message-{message_id}``: ``MessageEdited`` / ``MessageRecalled`` of one message, so edit and
  recall decisions read only that message's few events.
- ``reads-{conversation_id}-{user_id}``: ``ReadMarked``; each event carries the full watermark, so
  the stream's last event is the member's explicit watermark.
- ``pair-{low user id}-{high user id}``: ``PairClaimed``, appended with ``NO_STREAM``; whoever
  appends it first owns the pair's single chat.

Sending a message also moves the sender's own read watermark to that message's ``seq``
(consumers apply that from ``MessageSent``; no ``ReadMarked`` is written for it).
Realtime consumers can keep a membership index from ``ConversationCreated.member_ids``,
``MemberAdded.user_ids`` and ``MemberRemoved.user_id`` alone.
"""

from __future__ import annotations

from typing import Literal

from domain.events import Event

ConversationType = Literal["single", "group"]
Role = Literal["owner", "admin", "member"]
MemberStatus = Literal["active", "muted"]
MessageType = Literal["text", "file", "image", "audio", "video", "location", "system"]
FILE_TYPES: tuple[MessageType, ...] = ("file", "image", "audio", "video")


def conversation_stream(conversation_id: int) -> str:
    return f"conversation-{conversation_id}"


def messages_stream(conversation_id: int) -> str:
    return f"messages-{conversation_id}"


def message_stream(message_id: int) -> str:
    return f"message-{message_id}"


def reads_stream(conversation_id: int, user_id: int) -> str:
    return f"reads-{conversation_id}-{user_id}"


def pair_stream(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"pair-{low}-{high}"


# -- conversation-{id} ------------------------------------------------------------------------


class PairClaimed(Event, frozen=True, tag="PairClaimed"):
    """First (and only) event of ``pair-{low}-{high}``: the pair's single chat is this one."""

    conversation_id: int
    user_ids: tuple[int, int]
    at: float = 0.0


class ConversationCreated(Event, frozen=True, tag="ConversationCreated"):
    """A chat exists. ``member_ids`` are all initial members; the creator is among them and is
    the owner of a group (a single chat's two members are plain members)."""

    conversation_id: int
    conversation_type: ConversationType
    creator_id: int
    member_ids: tuple[int, ...]
    name: str = ""
    description: str | None = None
    avatar: str | None = None
    max_members: int = 500
    allow_invite: bool = True
    allow_member_modify: bool = False
    is_public: bool = False
    at: float = 0.0


class MemberAdded(Event, frozen=True, tag="MemberAdded"):
    """``user_ids`` joined with ``role``. ``seq`` is the conversation's last seq when they joined:
    their initial read watermark. ``invite_code`` is set when they joined through one."""

    conversation_id: int
    user_ids: tuple[int, ...]
    operator_id: int
    role: Role = "member"
    seq: int = 0
    invite_code: str | None = None
    at: float = 0.0


class MemberRemoved(Event, frozen=True, tag="MemberRemoved"):
    conversation_id: int
    user_id: int
    operator_id: int
    is_self_exit: bool = False
    at: float = 0.0


class MemberRoleChanged(Event, frozen=True, tag="MemberRoleChanged"):
    """A role change; an ownership transfer is two of these (new owner, old owner -> admin)."""

    conversation_id: int
    user_id: int
    old_role: Role
    new_role: Role
    operator_id: int
    at: float = 0.0


class MemberUpdated(Event, frozen=True, tag="MemberUpdated"):
    """A member's nickname and mute state after the change (full values, not a delta)."""

    conversation_id: int
    user_id: int
    operator_id: int
    nickname: str | None = None
    status: MemberStatus = "active"
    muted_until: float | None = None
    at: float = 0.0


class ConversationUpdated(Event, frozen=True, tag="ConversationUpdated"):
    """The settings after the change (full values); ``changed`` names the fields that changed."""

    conversation_id: int
    operator_id: int
    name: str
    description: str | None
    avatar: str | None
    max_members: int
    allow_invite: bool
    allow_member_modify: bool
    is_public: bool
    changed: tuple[str, ...] = ()
    at: float = 0.0


class ConversationDissolved(Event, frozen=True, tag="ConversationDissolved"):
    """A group was dissolved by its owner: history stays readable, nothing can be sent."""

    conversation_id: int
    operator_id: int
    at: float = 0.0


class ConversationHidden(Event, frozen=True, tag="ConversationHidden"):
    """``user_id`` hid a single chat at ``seq``; it shows again when a message above it arrives.
    Hiding also marks everything up to ``seq`` as read for that user."""

    conversation_id: int
    user_id: int
    seq: int
    at: float = 0.0


class ConversationUnhidden(Event, frozen=True, tag="ConversationUnhidden"):
    """``user_id`` opened a hidden single chat again (``POST /conversations/single``)."""

    conversation_id: int
    user_id: int
    at: float = 0.0


class HistoryCleared(Event, frozen=True, tag="HistoryCleared"):
    """``user_id`` no longer sees messages with ``seq <= seq``; also marks them read."""

    conversation_id: int
    user_id: int
    seq: int
    at: float = 0.0


class InviteCodeCreated(Event, frozen=True, tag="InviteCodeCreated"):
    conversation_id: int
    code: str
    operator_id: int
    expires_at: float
    max_uses: int | None = None
    at: float = 0.0


class InviteCodeRevoked(Event, frozen=True, tag="InviteCodeRevoked"):
    """An owner or admin withdrew an invite code; it never works again."""

    conversation_id: int
    code: str
    operator_id: int
    at: float = 0.0


# -- messages-{id}, message-{id}, reads-{id}-{user} ---------------------------------------------


class MessageSent(Event, frozen=True, tag="MessageSent"):
    """A message with its gap-free per-conversation ``seq``. System messages (group created,
    members added/removed/left, rename, ownership change) have ``message_type="system"`` and the
    operator as ``sender_id``. Sending moves the sender's read watermark to ``seq``."""

    message_id: int
    conversation_id: int
    seq: int
    sender_id: int
    message_type: MessageType
    content: str = ""
    reply_to_id: int | None = None
    client_msg_id: str | None = None
    file_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    at: float = 0.0


class MessageEdited(Event, frozen=True, tag="MessageEdited"):
    message_id: int
    conversation_id: int
    seq: int
    editor_id: int
    content: str
    at: float = 0.0


class MessageRecalled(Event, frozen=True, tag="MessageRecalled"):
    """A recall. ``file_id``: the file the message carried; recalling it ends the access the
    message gave the conversation's members (the uploader and other shares keep theirs)."""

    message_id: int
    conversation_id: int
    seq: int
    operator_id: int
    at: float = 0.0
    file_id: str | None = None


class ReadMarked(Event, frozen=True, tag="ReadMarked"):
    """``user_id``'s read watermark in the conversation is now (at least) ``seq``;
    ``previous_seq`` is what it was before (their explicit marks and own sends), so the messages
    this mark newly read are those with ``previous_seq < seq' <= seq`` (0 in older events)."""

    conversation_id: int
    user_id: int
    seq: int
    at: float = 0.0
    previous_seq: int = 0


ConversationEvent = (
    ConversationCreated
    | MemberAdded
    | MemberRemoved
    | MemberRoleChanged
    | MemberUpdated
    | ConversationUpdated
    | ConversationDissolved
    | ConversationHidden
    | ConversationUnhidden
    | HistoryCleared
    | InviteCodeCreated
    | InviteCodeRevoked
)
MessageEvent = MessageSent | MessageEdited | MessageRecalled | ReadMarked
PairEvent = PairClaimed
