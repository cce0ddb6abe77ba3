"""Broadcast commands: record a superuser's announcement as an event."""

from __future__ import annotations

import time

import msgspec

from commands.core import IdAllocator, append
from domain import broadcasts as b
from domain.store import NO_STREAM, EventStore


class SendBroadcast(msgspec.Struct, frozen=True):
    sender_id: int
    title: str
    content: str
    priority: b.Priority = "normal"
    target_user_ids: list[int] | None = None
    attachments: list[str] = []
    recipients: int = 0


class BroadcastHandlers:
    """Each handler returns (the event, its event-store position)."""

    def __init__(self, store: EventStore, ids: IdAllocator) -> None:
        self._store = store
        self._ids = ids

    async def send_broadcast(self, cmd: SendBroadcast) -> tuple[b.BroadcastSent, int]:
        event = b.decide_broadcast(
            broadcast_id=0,
            sender_id=cmd.sender_id,
            title=cmd.title,
            content=cmd.content,
            priority=cmd.priority,
            target_user_ids=cmd.target_user_ids,
            attachments=cmd.attachments,
            recipients=cmd.recipients,
            at=time.time(),
        )
        broadcast_id = await self._ids.next("broadcast")
        event = msgspec.structs.replace(event, broadcast_id=broadcast_id)
        position = await append(self._store, b.broadcast_stream(broadcast_id), [event], NO_STREAM)
        return event, position
