"""Broadcasts: a superuser's announcement to some users or to everyone, kept in the event log."""

from __future__ import annotations

from typing import Literal

from domain.errors import InvalidError
from domain.events import Event

Priority = Literal["low", "normal", "high"]
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
    priority: Priority,
    target_user_ids: list[int] | None,
    attachments: list[str],
    recipients: int,
    at: float,
) -> BroadcastSent:
    """The broadcast, with its targets deduplicated in their given order. The rule: a title
    that is not blank. Types and limits (the priority, 1-``MAX_TARGETS`` targets or None for
    everyone) are the request schema's."""
    if not title.strip():
        raise InvalidError("title must not be empty")
    targets = None if target_user_ids is None else list(dict.fromkeys(target_user_ids))
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
