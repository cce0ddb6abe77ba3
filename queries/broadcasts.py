"""Broadcast views: what a user received, or every broadcast for a superuser."""

from __future__ import annotations

import msgspec

from projections.schema import BROADCASTS, RECIPIENTS, BroadcastDoc
from projections.store import ReadStore
from queries.views import iso


class Broadcast(msgspec.Struct):
    """The contract's ``Broadcast``; ``target_user_ids`` null means everyone."""

    id: int
    title: str
    content: str
    priority: str
    sender_id: int
    target_user_ids: list[int] | None
    attachments: list[str]
    recipients: int
    created_at: str


def broadcast_view(doc: BroadcastDoc) -> Broadcast:
    return Broadcast(
        id=doc.id,
        title=doc.title,
        content=doc.content,
        priority=doc.priority,
        sender_id=doc.sender_id,
        target_user_ids=doc.target_user_ids,
        attachments=list(doc.attachments),
        recipients=doc.recipients,
        created_at=iso(doc.created_at) or "",
    )


async def all_broadcasts(read: ReadStore, skip: int, limit: int) -> list[Broadcast]:
    docs = await read.find(BROADCASTS, order=[("id", -1)], skip=skip, limit=limit)
    return [broadcast_view(d) for d in docs]


async def received(read: ReadStore, user_id: int, skip: int, limit: int) -> list[Broadcast]:
    """Broadcasts to everyone plus those targeting ``user_id``, newest first.

    Merges two id-ordered queries, each cut at ``skip + limit``: the page costs O(skip + limit).
    """
    window = skip + limit
    everyone = await read.find(BROADCASTS, {"everyone": True}, order=[("id", -1)], limit=window)
    mine = await read.find(
        RECIPIENTS, {"user_id": user_id}, order=[("broadcast_id", -1)], limit=window
    )
    ids = sorted({d.id for d in everyone} | {r.broadcast_id for r in mine}, reverse=True)
    page = ids[skip:window]
    found = {d.id: d for d in everyone}
    missing = [str(i) for i in page if i not in found]
    for d in await read.get_many(BROADCASTS, missing):
        found[d.id] = d
    return [broadcast_view(found[i]) for i in page if i in found]
