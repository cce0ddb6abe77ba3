"""What the system notifies about, as pure functions of an event and a few looked-up facts:
group invites, @mentions in group text messages, broadcasts, alarms.

The notification policy (``commands.notification_policy``) supplies the facts from the read models
and appends what these return; ``derived_event_id`` makes a re-run append nothing new.
"""

from __future__ import annotations

import re
import uuid

from domain.broadcasts import BroadcastSent
from domain.notifications import Draft, Priority
from domain.reports import EventReported

# ``@standard_id`` not preceded by a word character (so e-mail addresses do not count).
MENTION = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{1,20})(?![A-Za-z0-9_])")
_NAMESPACE = uuid.UUID("6f1c2a57-4e9b-5d3e-9a0f-0c7b1e2d3f40")
_PREVIEW = 200


def derived_event_id(source_event_id: str, user_id: int) -> str:
    """The id of the notification event ``source_event_id`` causes for ``user_id``: the same on
    every run, so the event store treats a repeated append as the original (idempotent)."""
    return str(uuid.uuid5(_NAMESPACE, f"notification:{source_event_id}:{user_id}"))


def source_of(event_type: str, event_id: str) -> str:
    return f"{event_type}:{event_id}"


def mentioned(content: str) -> list[str]:
    """The lowercased standard ids mentioned as ``@standard_id``, once each, in order."""
    return list(dict.fromkeys(m.lower() for m in MENTION.findall(content)))


def _preview(text: str) -> str:
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


def group_invite(
    user_id: int,
    conversation_id: int,
    group_name: str,
    operator_id: int,
    operator_name: str,
    source: str,
) -> Draft:
    return Draft(
        user_id=user_id,
        title=f"Added to group {group_name}"[:200],
        content=f"{operator_name} added you to the group {group_name}",
        kind="group_invite",
        data={"conversation_id": conversation_id, "operator_id": operator_id},
        source=source,
    )


def mention(
    user_id: int,
    conversation_id: int,
    group_name: str,
    message_id: int,
    sender_id: int,
    sender_name: str,
    content: str,
    source: str,
) -> Draft:
    return Draft(
        user_id=user_id,
        title=f"{sender_name} mentioned you in {group_name}"[:200],
        content=_preview(content),
        kind="mention",
        data={
            "conversation_id": conversation_id,
            "message_id": message_id,
            "sender_id": sender_id,
        },
        source=source,
    )


def broadcast(user_id: int, event: BroadcastSent, source: str) -> Draft:
    priority: Priority = event.priority if event.priority in ("low", "high") else "normal"  # type: ignore[assignment]
    return Draft(
        user_id=user_id,
        title=event.title[:200],
        content=event.content[:5000],
        kind="broadcast",
        priority=priority,
        data={
            "broadcast_id": event.broadcast_id,
            "sender_id": event.sender_id,
            "attachments": list(event.attachments),
        },
        source=source,
        silent=True,  # ``broadcast_received`` is its push
    )


def broadcast_recipients(event: BroadcastSent, active_user_ids: list[int]) -> list[int]:
    """Its targets; for everyone, every active user except the sender."""
    if event.target_user_ids is not None:
        return list(dict.fromkeys(event.target_user_ids))
    return [u for u in active_user_ids if u != event.sender_id]


def alarm(user_id: int, event: EventReported, reporter_name: str, source: str) -> Draft:
    return Draft(
        user_id=user_id,
        title=f"Alarm from {reporter_name}: {event.title}"[:200],
        content=_preview(event.body or event.title),
        kind="event",
        priority="high",
        data={
            "event_id": event.report_id,
            "event_type": event.event_type,
            "reporter_id": event.reporter_id,
            "level": event.level,
            "latitude": event.latitude,
            "longitude": event.longitude,
            "address": event.address,
        },
        source=source,
    )
