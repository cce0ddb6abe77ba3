"""Makes each membership change's history line certain.

A change to a group (created, members added, removed, left, renamed, ownership moved) and its
system line are two appends to two streams; a crash between them would lose the line. This
follower re-reads the conversation events after its checkpoint and asks for each one's line
again: the line's key is derived from the event's stream version (``system:<version>``), so
a line that was written is answered by the original and only a missing one is appended.
It runs wherever the notification policy does; on its first start ever it begins at the head.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from commands.conversations import ConversationHandlers
from domain.codec import UnknownEventError
from domain.messages import system_text
from domain.store import EventStore, RecordedEvent

log = logging.getLogger("im.system_lines")

CHECKPOINT = "policy:system-lines"
SAVE_EVERY_S = 1.0


class Checkpoint(Protocol):
    async def load(self) -> int: ...

    async def save(self, position: int) -> None: ...


class SystemLines:
    name = "system-lines"

    def __init__(
        self, events: EventStore, checkpoint: Checkpoint, conversations: ConversationHandlers
    ) -> None:
        self._events = events
        self._checkpoint = checkpoint
        self._conversations = conversations
        self.position = 0
        self.saved = 0
        self.ensured = 0
        self._saved_at = 0.0

    async def start_at(self) -> int:
        stored = await self._checkpoint.load()
        if stored == 0:  # first start ever: from the head (older lines are history)
            stored = await self._events.head()
            await self._checkpoint.save(stored)
        self.position = self.saved = stored
        return self.position

    async def resume(self) -> None:
        return None

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        for rec in batch:
            if not rec.stream.startswith("conversation-"):
                continue
            try:
                event = rec.decode()
            except UnknownEventError:
                continue
            if system_text(event, {}) is None:
                continue
            await self._conversations.ensure_line(event, rec.version)
            self.ensured += 1
        self.position = batch[-1].position
        if time.monotonic() - self._saved_at >= SAVE_EVERY_S:
            await self._save()

    async def settle(self) -> None:
        if self.position > self.saved:
            await self._save()

    async def _save(self) -> None:
        await self._checkpoint.save(self.position)
        self.saved = self.position
        self._saved_at = time.monotonic()
