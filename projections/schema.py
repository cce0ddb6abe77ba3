"""The read models' schema: one Struct per document kind, and the collections that hold them.

This is the contract between the projections (which write these documents) and ``queries/``
(which decode them): a field renamed here makes mypy point at both sides.
``tests/contract/test_read_models.py`` projects a history of every event type and checks that
each stored document decodes strictly into its Struct, patched fields included.

Defaults exist for fields documents written by older versions may lack; timestamps are epoch
seconds.
"""

from __future__ import annotations

from typing import Any

import msgspec

from domain.conversations import MessageType
from projections.store import Collection, Index


class ReadModel(msgspec.Struct, kw_only=True, gc=False):
    """Base of every read-model document (never part of a reference cycle: not GC-tracked)."""


# -- users -------------------------------------------------------------------------------------
class UserDoc(ReadModel, kw_only=True):
    id: int
    standard_id: str
    standard_id_lower: str
    name: str
    is_active: bool
    is_superuser: bool
    created_at: float
    platform_id: str | None = None
    search_text: str = ""
    is_auditor: bool = False


USERS = Collection(
    "users",
    UserDoc,
    indexes=(Index(("standard_id_lower",), unique=True),),
    text_field="search_text",
)


# -- files -------------------------------------------------------------------------------------
class FileDoc(ReadModel, kw_only=True):
    file_id: str
    id: int
    name: str
    size: int
    sha256: str
    mime_type: str
    uploader_id: int
    description: str | None = None
    is_public: bool = False
    uploaded_at: float
    download_count: int = 0
    deleted: bool = False
    deleted_at: float | None = None


class FileShareDoc(ReadModel, kw_only=True):
    """A conversation a file was sent to, and the messages that carry it there and are not
    recalled (None in documents from before recalls were tracked: shared)."""

    file_id: str
    conversation_id: int
    message_ids: list[int] | None = None


class FileMemberDoc(ReadModel, kw_only=True):
    """A current membership, as the files' visibility rule needs it."""

    conversation_id: int
    user_id: int


FILES = Collection("files", FileDoc, indexes=(Index(("uploader_id", "deleted", "uploaded_at")),))
FILE_SHARES = Collection("files_shares", FileShareDoc, indexes=(Index(("file_id",)),))
FILE_MEMBERS = Collection("files_members", FileMemberDoc)


def share_key(file_id: str, conversation_id: int) -> str:
    return f"{file_id}:{conversation_id}"


# -- conversations -----------------------------------------------------------------------------
class ConversationDoc(ReadModel, kw_only=True):
    id: int
    type: str
    name: str
    description: str | None = None
    avatar: str | None = None
    max_members: int
    allow_invite: bool
    allow_member_modify: bool
    is_public: bool
    status: str
    creator_id: int
    owner_id: int | None = None
    created_at: float
    updated_at: float
    member_ids: list[int]
    last_seq: int = 0
    last_message_id: int | None = None
    last_message_at: float | None = None


class GroupListingDoc(ReadModel, kw_only=True):
    """A group's entry in group search (its own collection: conversations carry no text index)."""

    id: int
    is_public: bool
    status: str
    created_at: float
    search_text: str


class MemberDoc(ReadModel, kw_only=True):
    """A membership; ``last_read_seq`` is the read watermark, unread counts are derived."""

    conversation_id: int
    user_id: int
    role: str = "member"
    status: str = "active"
    nickname: str | None = None
    muted_until: float | None = None
    joined_at: float = 0.0
    last_read_seq: int = 0
    last_read_at: float | None = None
    cleared_seq: int = 0
    hidden_seq: int | None = None
    last_sent_at: float | None = None


class InviteDoc(ReadModel, kw_only=True):
    code: str
    conversation_id: int
    expires_at: float
    max_uses: int | None = None
    created_by: int
    created_at: float


CONVERSATIONS = Collection("conversations", ConversationDoc)
# Groups' names and descriptions for group search: a collection of its own, so that the
# conversation documents, patched on every message, carry no text index.
GROUP_DIRECTORY = Collection(
    "conversation_groups",
    GroupListingDoc,
    indexes=(Index(("is_public", "status", "created_at")),),
    text_field="search_text",
)
MEMBERS = Collection(
    "conversation_members",
    MemberDoc,
    indexes=(Index(("user_id",)), Index(("conversation_id", "role"))),
)
INVITES = Collection("conversation_invites", InviteDoc)


def member_key(conversation_id: int, user_id: int) -> str:
    """The key of a membership (in ``MEMBERS`` and ``FILE_MEMBERS``)."""
    return f"{conversation_id}:{user_id}"


# -- messages ----------------------------------------------------------------------------------
class MessageDoc(ReadModel, kw_only=True):
    id: int
    conversation_id: int
    seq: int
    sender_id: int
    message_type: MessageType
    content: str
    status: str
    reply_to_id: int | None = None
    client_msg_id: str | None = None
    file_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    created_at: float
    updated_at: float | None = None
    edited_at: float | None = None
    recalled_at: float | None = None
    search_text: str = ""


MESSAGES = Collection(
    "messages",
    MessageDoc,
    indexes=(
        Index(("conversation_id", "seq"), unique=True),
        Index(("conversation_id", "client_msg_id")),
    ),
    text_field="search_text",
)


# -- notifications -----------------------------------------------------------------------------
class NotificationDoc(ReadModel, kw_only=True):
    """``visible_at``: the scheduled time, or the creation; lists show only visible ones."""

    id: int
    user_id: int
    title: str
    content: str
    kind: str
    priority: str
    status: str
    data: dict[str, Any] | None = None
    created_at: float
    read_at: float | None = None
    scheduled_at: float | None = None
    visible_at: float
    source: str | None = None


class PreferencesDoc(ReadModel, kw_only=True):
    """A user's notification preferences (``domain.notifications.Preferences`` plus the user)."""

    user_id: int
    message_enabled: bool = True
    group_message_enabled: bool = True
    websocket_enabled: bool = True
    email_enabled: bool = False
    push_enabled: bool = True
    do_not_disturb: bool = False
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    email_frequency: str = "immediate"
    timezone: str = "UTC"


class TemplateDoc(ReadModel, kw_only=True):
    id: int
    name: str
    name_lower: str
    kind: str
    title_template: str
    content_template: str
    priority: str
    is_active: bool
    created_at: float
    updated_at: float


NOTIFICATIONS = Collection(
    "notifications",
    NotificationDoc,
    indexes=(
        Index(("user_id", "id")),
        Index(("user_id", "status")),
        Index(("user_id", "kind")),
        Index(("user_id", "priority")),
        Index(("scheduled_at",)),  # the timer of scheduled notifications, at start
    ),
)
PREFERENCES = Collection("notification_preferences", PreferencesDoc)
TEMPLATES = Collection("notification_templates", TemplateDoc, indexes=(Index(("name_lower",)),))


# -- broadcasts --------------------------------------------------------------------------------
class BroadcastDoc(ReadModel, kw_only=True):
    """``everyone``: sent to all users (then ``target_user_ids`` is None and no recipients)."""

    id: int
    title: str
    content: str
    priority: str
    sender_id: int
    target_user_ids: list[int] | None = None
    everyone: bool
    attachments: list[str] = []
    recipients: int = 0
    created_at: float


class RecipientDoc(ReadModel, kw_only=True):
    broadcast_id: int
    user_id: int


BROADCASTS = Collection("broadcasts", BroadcastDoc, indexes=(Index(("everyone", "id")),))
RECIPIENTS = Collection(
    "broadcast_recipients", RecipientDoc, indexes=(Index(("user_id", "broadcast_id")),)
)


def recipient_key(broadcast_id: int, user_id: int) -> str:
    return f"{broadcast_id}:{user_id}"


# -- reports (``/events``) ---------------------------------------------------------------------
class ReportDoc(ReadModel, kw_only=True):
    id: int
    reporter_id: int
    event_type: str
    title: str
    body: str
    level: int
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    attachments: list[str] = []
    occurred_at: float
    created_at: float


REPORTS = Collection(
    "reports",
    ReportDoc,
    indexes=(
        Index(("reporter_id", "occurred_at")),
        Index(("event_type", "occurred_at")),
        Index(("occurred_at",)),
    ),
)

ALL_COLLECTIONS: tuple[Collection[Any], ...] = (
    USERS,
    FILES,
    FILE_SHARES,
    FILE_MEMBERS,
    CONVERSATIONS,
    GROUP_DIRECTORY,
    MEMBERS,
    INVITES,
    MESSAGES,
    NOTIFICATIONS,
    PREFERENCES,
    TEMPLATES,
    BROADCASTS,
    RECIPIENTS,
    REPORTS,
)


# -- time travel (projections/time_travel.py): documents as they stood at a past position ---------
class ConversationThen(msgspec.Struct):
    conversation: ConversationDoc
    members: list[MemberDoc]
    last_at: float  # when the last event folded in was recorded


class Edit(msgspec.Struct):
    content: str
    at: float


class MessageThen(msgspec.Struct):
    doc: MessageDoc
    original_content: str
    edits: list[Edit]
