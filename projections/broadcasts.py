"""The broadcasts read model.

``broadcasts`` holds one document per broadcast; ``broadcast_recipients`` one per targeted
recipient (a broadcast to everyone has none: ``everyone`` is set instead), so "broadcasts I
received" is two indexed queries.
"""

from __future__ import annotations

from typing import Any

from domain import broadcasts as b
from domain.events import Event, type_names
from domain.store import RecordedEvent
from projections.schema import BROADCASTS, RECIPIENTS, BroadcastDoc, RecipientDoc, recipient_key
from projections.store import Collection, Op


def _broadcast(e: b.BroadcastSent) -> list[Op]:
    doc = BroadcastDoc(
        id=e.broadcast_id,
        title=e.title,
        content=e.content,
        priority=e.priority,
        sender_id=e.sender_id,
        target_user_ids=e.target_user_ids,
        everyone=e.target_user_ids is None,
        attachments=list(e.attachments),
        recipients=e.recipients,
        created_at=e.at,
    )
    ops: list[Op] = [BROADCASTS.put(str(e.broadcast_id), doc)]
    # Each recipient document is written once, so more than 1024 ops in this one event cannot
    # be confused with a later event's op on the same document (op guards are per document).
    for u in dict.fromkeys(e.target_user_ids or ()):
        entry = RecipientDoc(broadcast_id=e.broadcast_id, user_id=u)
        ops.append(RECIPIENTS.put(recipient_key(e.broadcast_id, u), entry))
    return ops


class BroadcastsProjection:
    name = "broadcasts"
    collections: tuple[Collection[Any], ...] = (BROADCASTS, RECIPIENTS)
    # The only events handle acts on: the projector skips the others without calling it.
    handles = type_names(b.BroadcastEvent)

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        if not isinstance(event, b.BroadcastEvent):
            return []
        return _broadcast(event)
