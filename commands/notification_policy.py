"""The notification policy: a process manager that turns events into notification commands.

It follows the event store from its own durable checkpoint (a read-store checkpoint record
named ``policy:notifications``, behind the ``Checkpoint`` port), looks up what it needs in the
read models once they include the event (the ``Facts`` port, ``queries.notification_facts``),
and appends each notification with an id derived from the causing event and the recipient.
Stopping anywhere and starting again re-reads at most the unsaved tail, and the notifications
handler answers a repeated creation of the same id with the original (it finds the id in the
recipient's stream, whatever the event store's id cache still remembers), so a restart never
notifies twice. On its very first start it begins at the current head: history from
before it existed is not notified. The record stores position + 1, so that a missing record
(read as 0) means "never started" and not "start from the beginning".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, assert_never

from commands.notifications import NotificationHandlers
from domain import conversations as c
from domain import notification_rules as rules
from domain import tracing
from domain.broadcasts import BroadcastSent
from domain.codec import UnknownEventError, parse_metadata
from domain.errors import DomainError
from domain.events import Event, type_names
from domain.notifications import Draft
from domain.reports import EventReported
from domain.store import EventStore, RecordedEvent

log = logging.getLogger("im.notify")

CHECKPOINT = "policy:notifications"
ACTOR = tracing.Actor("system", "notification-policy")
Notifying = c.MemberAdded | c.MessageSent | BroadcastSent | EventReported
"""The events that may cause notifications (``drafts`` decides for each)."""
TYPES = type_names(Notifying)
SAVE_EVERY_S = 0.5
WaitFor = Callable[[int], Awaitable[bool]]


class Checkpoint(Protocol):
    """Where the policy keeps its position (stored + 1; 0 means never started)."""

    async def load(self) -> int: ...

    async def save(self, position: int) -> None: ...

    async def rewind(self, position: int) -> None:
        """Move the checkpoint back (``save`` only moves it forward)."""
        ...


class Facts(Protocol):
    """What the policy looks up in the read models."""

    async def user_names(self, user_ids: Sequence[int]) -> dict[int, str]: ...

    async def active_user_ids(self) -> list[int]: ...

    async def superuser_ids(self) -> list[int]: ...

    async def users_by_standard_ids(self, standard_ids: Sequence[str]) -> dict[str, int]: ...

    async def group(self, conversation_id: int) -> tuple[str, str] | None: ...

    async def members_among(self, conversation_id: int, user_ids: Sequence[int]) -> list[int]: ...


class NotificationPolicy:
    """A follower of the event log (``projections.follower`` drives it)."""

    name = "notification-policy"

    def __init__(
        self,
        events: EventStore,
        checkpoint: Checkpoint,
        facts: Facts,
        handlers: NotificationHandlers,
        wait_for: WaitFor,
    ) -> None:
        self._events = events
        self._checkpoint = checkpoint
        self._handlers = handlers
        self._wait_for = wait_for
        self._facts = facts
        self.position = 0
        self.saved = 0
        self.notified = 0
        self._saved_at = 0.0

    async def start_at(self) -> int:
        stored = await self._checkpoint.load()
        if stored == 0:  # first run: start at the head, do not notify old history
            self.position = await self._events.head()
            await self._save(self.position)
        else:
            self.position = self.saved = stored - 1
            head = await self._events.head()
            if self.position > head:  # the log lost its tail: what is past it never happened
                log.warning(
                    "notification policy checkpoint %d is beyond the event store head %d;"
                    " continuing from the head",
                    self.position,
                    head,
                )
                self.position = head
                await self._checkpoint.rewind(head + 1)
                self.saved = head
        return self.position

    async def resume(self) -> None:
        return None

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        await self.process(batch)

    async def settle(self) -> None:
        if self.position > self.saved:  # else the unsaved tail is re-read next time
            await self._save(self.position)

    async def process(self, batch: Sequence[RecordedEvent]) -> None:
        chosen = [r for r in batch if r.type in TYPES and _worth_decoding(r)]
        if chosen:
            while not await self._wait_for(chosen[-1].position):
                log.warning("notification policy waiting for the read models")
        for rec in chosen:
            try:
                event = rec.decode()
            except UnknownEventError:
                continue
            drafts = await self.drafts(rec, event)
            if drafts:
                await self._notify(rec, drafts)
        self.position = batch[-1].position
        if chosen or time.monotonic() - self._saved_at >= SAVE_EVERY_S:
            await self._save(self.position)

    async def _notify(self, rec: RecordedEvent, drafts: list[Draft]) -> None:
        ids = [rules.derived_event_id(rec.id, d.user_id) for d in drafts]
        correlation = parse_metadata(rec.metadata).correlation_id
        with tracing.caused_by(rec.id, correlation, ACTOR):
            results = await self._handlers.create_many(drafts, ids)
        for draft, result in zip(drafts, results, strict=True):
            if isinstance(result, DomainError):  # a draft no retry can fix: skip, never wedge
                log.warning(
                    "notification for %d from %s refused: %s", draft.user_id, rec.id, result
                )
            elif isinstance(result, BaseException):
                raise result  # retried from this batch; appended ones are not repeated
            else:
                self.notified += 1

    async def _save(self, position: int) -> None:
        await self._checkpoint.save(position + 1)
        self.saved = position
        self._saved_at = time.monotonic()

    async def drafts(self, rec: RecordedEvent, event: Event) -> list[Draft]:
        """The notifications one event causes."""
        if not isinstance(event, Notifying):
            return []
        source = rules.source_of(rec.type, rec.id)
        match event:
            case c.MemberAdded():
                added = [u for u in event.user_ids if u != event.operator_id]
                return await self._invites(event.conversation_id, added, event.operator_id, source)
            case c.MessageSent():
                if event.message_type != "text":
                    return []
                return await self._mentions(event, source)
            case BroadcastSent():
                everyone = [] if event.target_user_ids else await self._facts.active_user_ids()
                users = rules.broadcast_recipients(event, everyone)
                return [rules.broadcast(u, event, source) for u in users]
            case EventReported():
                if event.event_type != "alarm":
                    return []
                names = await self._facts.user_names([event.reporter_id])
                name = names.get(event.reporter_id, f"user {event.reporter_id}")
                users = [u for u in await self._facts.superuser_ids() if u != event.reporter_id]
                return [rules.alarm(u, event, name, source) for u in users]
            case _:
                assert_never(event)

    async def _invites(
        self, conversation_id: int, added: list[int], operator_id: int, source: str
    ) -> list[Draft]:
        if not added:
            return []
        group = await self._facts.group(conversation_id)
        if group is None or group[0] != "group":
            return []
        names = await self._facts.user_names([operator_id])
        operator = names.get(operator_id, f"user {operator_id}")
        return [
            rules.group_invite(u, conversation_id, group[1], operator_id, operator, source)
            for u in dict.fromkeys(added)
        ]

    async def _mentions(self, event: c.MessageSent, source: str) -> list[Draft]:
        wanted = rules.mentioned(event.content)
        if not wanted:
            return []
        group = await self._facts.group(event.conversation_id)
        if group is None or group[0] != "group":
            return []
        found = await self._facts.users_by_standard_ids(wanted)
        users = [found[s] for s in wanted if s in found and found[s] != event.sender_id]
        members = await self._facts.members_among(event.conversation_id, users)
        if not members:
            return []
        names = await self._facts.user_names([event.sender_id])
        sender = names.get(event.sender_id, f"user {event.sender_id}")
        return [
            rules.mention(
                u,
                event.conversation_id,
                group[1],
                event.message_id,
                event.sender_id,
                sender,
                event.content,
                source,
            )
            for u in members
        ]


def _worth_decoding(rec: RecordedEvent) -> bool:
    """Skip decoding messages that cannot mention anyone (the common case)."""
    return rec.type != "MessageSent" or b"@" in rec.data
