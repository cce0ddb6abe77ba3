"""The broadcasts read model.

``broadcasts`` holds one document per broadcast; ``broadcast_recipients`` one per targeted
recipient (a broadcast to everyone has none: ``everyone`` is set instead), so "broadcasts I
received" is two indexed queries.
"""

from __future__ import annotations

from domain import broadcasts as b
from domain.events import Event
from domain.store import RecordedEvent
from projections.store import Collection, Index, Op, Put

BROADCASTS = "broadcasts"
RECIPIENTS = "broadcast_recipients"


def recipient_key(broadcast_id: int, user_id: int) -> str:
    return f"{broadcast_id}:{user_id}"


def _broadcast(e: b.BroadcastSent) -> list[Op]:
    doc = {
        "id": e.broadcast_id,
        "title": e.title,
        "content": e.content,
        "priority": e.priority,
        "sender_id": e.sender_id,
        "target_user_ids": e.target_user_ids,
        "everyone": e.target_user_ids is None,
        "attachments": list(e.attachments),
        "recipients": e.recipients,
        "created_at": e.at,
    }
    ops: list[Op] = [Put(BROADCASTS, str(e.broadcast_id), doc)]
    # Each recipient document is written once, so more than 1024 ops in this one event cannot
    # be confused with a later event's op on the same document (op guards are per document).
    for u in dict.fromkeys(e.target_user_ids or ()):
        entry = {"broadcast_id": e.broadcast_id, "user_id": u}
        ops.append(Put(RECIPIENTS, recipient_key(e.broadcast_id, u), entry))
    return ops


class BroadcastsProjection:
    name = "broadcasts"
    collections: tuple[Collection, ...] = (
        Collection(BROADCASTS, indexes=(Index(("everyone", "id")),)),
        Collection(RECIPIENTS, indexes=(Index(("user_id", "broadcast_id")),)),
    )

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        match event:
            case b.BroadcastSent():
                return _broadcast(event)
        return []
