"""Which stored events are pushed, as which frame type, to whom: a pure function of the event."""

from __future__ import annotations

from typing import Any, Literal, assert_never

import msgspec

from domain import broadcasts as b
from domain import conversations as c
from domain import legacy_cascade as lc
from domain import notifications as n
from domain.events import Event, type_names
from queries.notifications import created_view
from queries.views import iso

ViewKind = Literal["message", "conversation", "read"]
MARK_READ_MAX_IDS = 100
"""``mark_read`` frames list at most this many of the newly read message ids (the newest)."""


class ViewRef(msgspec.Struct, frozen=True):
    """A frame's data that comes from a read model: a Message, a viewer's Conversation, or (for
    ``read``) the ids of the messages a read mark newly read, added to the route's data."""

    kind: ViewKind
    id: int


class Route(msgspec.Struct, frozen=True):
    """What one event means for push.

    Delivery order: ``joins`` become members of the conversation, the frame goes to its members
    (when ``members``), to ``users`` and to everyone (when ``everyone``), then ``leaves`` stop
    being members. So added members get their own ``member_added`` and removed ones their
    ``member_removed``.
    """

    kind: str
    conversation_id: int = 0
    data: Any = None
    view: ViewRef | None = None
    members: bool = False
    users: tuple[int, ...] = ()
    everyone: bool = False
    joins: tuple[int, ...] = ()
    leaves: tuple[int, ...] = ()


Routable = (
    c.ConversationEvent | c.MessageEvent | b.BroadcastEvent | n.NotificationEvent | lc.CenterEvent
)
"""The aggregates whose events may be pushed: ``route`` decides for each of their events."""

ROUTED_TYPES = type_names(Routable)
"""Stored type names worth decoding; anything else is skipped without decoding."""

MembershipChange = c.ConversationCreated | c.MemberAdded | c.MemberRemoved
MEMBERSHIP_TYPES = type_names(MembershipChange)


def _conversation(kind: str, cid: int, joins: tuple[int, ...] = ()) -> Route:
    return Route(kind, cid, view=ViewRef("conversation", cid), members=True, joins=joins)


def route(event: Event) -> Route | None:
    """The push route of an event, or None when nobody is told about it."""
    data: dict[str, Any]
    if not isinstance(event, Routable):
        return None
    match event:
        case c.MessageSent():
            cid = event.conversation_id
            return Route(
                "new_message", cid, view=ViewRef("message", event.message_id), members=True
            )
        case c.MessageEdited():
            cid = event.conversation_id
            ref = ViewRef("message", event.message_id)
            return Route("message_edited", cid, view=ref, members=True)
        case c.MessageRecalled():
            cid = event.conversation_id
            ref = ViewRef("message", event.message_id)
            return Route("message_recalled", cid, view=ref, members=True)
        case c.ReadMarked():
            data = {
                "conversation_id": event.conversation_id,
                "user_id": event.user_id,
                "seq": event.seq,
            }
            cid = event.conversation_id
            return Route("mark_read", cid, data=data, view=ViewRef("read", cid), members=True)
        case c.ConversationCreated():
            cid = event.conversation_id
            return _conversation("conversation_created", cid, tuple(event.member_ids))
        case c.ConversationUpdated():
            return _conversation("conversation_updated", event.conversation_id)
        case c.ConversationDissolved():
            return _conversation("conversation_dissolved", event.conversation_id)
        case c.MemberAdded():
            data = {
                "conversation_id": event.conversation_id,
                "added_user_ids": list(event.user_ids),
                "operator_id": event.operator_id,
            }
            added = tuple(event.user_ids)
            return Route("member_added", event.conversation_id, data, members=True, joins=added)
        case c.MemberRemoved():
            data = {
                "conversation_id": event.conversation_id,
                "removed_user_id": event.user_id,
                "operator_id": event.operator_id,
                "is_self_exit": event.is_self_exit,
            }
            gone = (event.user_id,)
            return Route("member_removed", event.conversation_id, data, members=True, leaves=gone)
        case c.MemberRoleChanged():
            data = {
                "conversation_id": event.conversation_id,
                "user_id": event.user_id,
                "old_role": event.old_role,
                "new_role": event.new_role,
            }
            return Route("role_changed", event.conversation_id, data, members=True)
        case b.BroadcastSent():
            return _broadcast(event)
        case lc.WaterMarkUpdated():  # from the center (legacy RabbitMQ ``update_water_mark``)
            data = {
                "watermark_id": event.id,
                "mark": event.mark,
                "transparency": event.transparency,
                "name": event.name,
                "phone": event.phone,
                "date": event.date,
            }
            return Route("watermark_updated", data=data, everyone=True)
        case n.NotificationDue():  # a scheduled one's time came
            if not event.push:
                return None
            data = msgspec.to_builtins(created_view(event.as_created()))
            return Route("notification_created", data=data, users=(event.user_id,))
        case n.NotificationCreated():
            if not event.push:  # the recipient's preferences did not allow it
                return None
            data = msgspec.to_builtins(created_view(event))
            return Route("notification_created", data=data, users=(event.user_id,))
        case (
            c.MemberUpdated()
            | c.ConversationHidden()
            | c.ConversationUnhidden()
            | c.HistoryCleared()
            | c.InviteCodeCreated()
            | c.InviteCodeRevoked()
            | n.NotificationsRead()
            | n.NotificationsUnread()
            | n.NotificationsDeleted()
            | lc.PlatformMqUpdated()
        ):
            return None
        case _:
            assert_never(event)


def _broadcast(event: b.BroadcastSent) -> Route:
    data = {
        "broadcast_id": event.broadcast_id,
        "title": event.title,
        "content": event.content,
        "priority": event.priority,
        "sender_id": event.sender_id,
        "attachments": event.attachments,
        "created_at": iso(event.at),
    }
    if event.target_user_ids is None:
        return Route("broadcast_received", data=data, everyone=True)
    return Route("broadcast_received", data=data, users=tuple(event.target_user_ids))


class UserMembership:
    """One user's conversations, moved along events in order: answers "does this concern them"."""

    def __init__(self, user_id: int, conversations: set[int]) -> None:
        self.user_id = user_id
        self.conversations = conversations

    def concerns(self, r: Route) -> bool:
        uid, cid = self.user_id, r.conversation_id
        if uid in r.joins:
            self.conversations.add(cid)
        hit = r.everyone or uid in r.users or (r.members and cid in self.conversations)
        if uid in r.leaves:
            self.conversations.discard(cid)
        return hit


def membership_before(user_id: int, now: set[int], later: list[Route]) -> set[int]:
    """The user's conversations before ``later`` (in order), given those after it (``now``).

    The first membership change of each conversation tells what it was before: a join means the
    user was not a member, a leave that they were.
    """
    before = set(now)
    seen: set[int] = set()
    for r in later:
        cid = r.conversation_id
        if cid in seen:
            continue
        if user_id in r.joins:
            before.discard(cid)
            seen.add(cid)
        elif user_id in r.leaves:
            before.add(cid)
            seen.add(cid)
    return before
