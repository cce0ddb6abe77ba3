"""Broadcasts: a superuser's announcement to some users or to everyone, kept in the event log."""

from __future__ import annotations

from domain.errors import InvalidError
from domain.events import Event

PRIORITIES = ("low", "normal", "high")
MAX_TARGETS = 10_000


class BroadcastSent(Event, frozen=True, tag="BroadcastSent"):
    """``target_user_ids`` None means every user; ``recipients`` is how many it was meant for."""

    broadcast_id: int
    sender_id: int
    title: str
    content: str
    priority: str = "normal"
    target_user_ids: list[int] | None = None
    attachments: list[str] = []
    recipients: int = 0
    at: float = 0.0


BroadcastEvent = BroadcastSent


def broadcast_stream(broadcast_id: int) -> str:
    return f"broadcast-{broadcast_id}"


def decide_broadcast(
    *,
    broadcast_id: int,
    sender_id: int,
    title: str,
    content: str,
    priority: str,
    target_user_ids: list[int] | None,
    attachments: list[str],
    recipients: int,
    at: float,
) -> BroadcastSent:
    """Validate a broadcast; targets are deduplicated in their given order."""
    if not title.strip():
        raise InvalidError("title must not be empty")
    if priority not in PRIORITIES:
        raise InvalidError(f"priority must be one of {', '.join(PRIORITIES)}")
    targets: list[int] | None = None
    if target_user_ids is not None:
        targets = list(dict.fromkeys(target_user_ids))
        if not targets:
            raise InvalidError("target_user_ids must not be empty; omit it to reach everyone")
        if len(targets) > MAX_TARGETS:
            raise InvalidError(f"at most {MAX_TARGETS} target users")
    return BroadcastSent(
        broadcast_id=broadcast_id,
        sender_id=sender_id,
        title=title,
        content=content,
        priority=priority,
        target_user_ids=targets,
        attachments=list(attachments),
        recipients=recipients,
        at=at,
    )
