"""The legacy relay's messages: the previous system's RabbitMQ protocol (§6.2 of the
legacy-client page), rendered from the event log next to (or instead of) the envelope.

- A chat message is ``{"cmd": "msg", "data": {id, conversation_id, create_time,
  publisher_standard_id, profile: [{id, type, name, path, audio_duration}]}}`` published to the
  topic exchange ``conversation.incoming`` with routing key ``c_{conversation_id}``. That key is
  bound to the conversation's fanout exchange ``exchange_c_{conversation_id}``, declared when the
  conversation is created (and, for conversations older than this relay, before its first
  message); legacy clients bind their own queues to it. System lines are not sent: the notices
  below say the same.
- Per-user notices go to ``exchange_instant_base`` with routing key ``u_{standard_id}``, one
  message per member: ``create_conversation``, ``join_conversation``, ``quit_conversation``,
  ``expulsion_conversation``, ``dissolution_conversation``, ``change_master_conversation``,
  ``update_name_conversation``.
- Broadcasts (``cmd: "broadcast"``), reported events (``cmd: "event"``) and watermark changes
  (``cmd: "update_water_mark"``) go to ``exchange_instant_base`` with routing keys
  ``broadcast``, ``event`` and ``u_.water_mark``.

Every name carries the configured prefix (``IM_CASCADE_LEGACY_PREFIX``, empty by default).
Recipients and names come from the read models once they include the batch, so a notice
redelivered after a crash goes to the members as they are then. Message ids are
``<event id>`` or ``<event id>:<standard_id>``, the same on every redelivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import msgspec

from domain import conversations as c
from domain import legacy_cascade as lc
from domain.broadcasts import BroadcastSent
from domain.cascade import OutgoingMessage, occurred_at
from domain.codec import UnknownEventError
from domain.events import Event
from domain.reports import EventReported
from domain.store import RecordedEvent
from projections.schema import CONVERSATIONS, FILES, USERS
from projections.store import ReadStore

WaitFor = Callable[[int], Awaitable[bool]]
_TYPES = frozenset(
    {
        "MessageSent",
        "ConversationCreated",
        "MemberAdded",
        "MemberRemoved",
        "MemberRoleChanged",
        "ConversationUpdated",
        "ConversationDissolved",
        "BroadcastSent",
        "EventReported",
        "WaterMarkUpdated",
    }
)
DOWNLOAD_PATH = "/api/v1/files/download/{file_id}"


class LegacyNames(msgspec.Struct, frozen=True):
    """The protocol's exchange and queue names, each with ``prefix`` in front."""

    prefix: str = ""

    @property
    def base(self) -> str:
        return f"{self.prefix}exchange_instant_base"

    @property
    def incoming(self) -> str:
        return f"{self.prefix}conversation.incoming"

    def conversation(self, conversation_id: int) -> str:
        return f"{self.prefix}exchange_c_{conversation_id}"

    @property
    def queue(self) -> str:
        return f"{self.prefix}queue_instant_base"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}queue_instant_base.dlq"


INBOUND_ROUTING_KEY = "instant.base"


class Topology(Protocol):
    async def fanout_from(self, source: str, exchange: str, routing_key: str) -> None:
        """Declare fanout ``exchange`` bound from ``source`` on ``routing_key`` (idempotent)."""
        ...


class Person(msgspec.Struct, frozen=True):
    id: int
    standard_id: str


class FileFacts(msgspec.Struct, frozen=True):
    id: int
    file_id: str
    name: str
    mime_type: str


class Directory:
    """What rendering looks up in the read models: people, members and files."""

    def __init__(self, read: ReadStore) -> None:
        self._read = read
        self._people: dict[int, Person] = {}  # standard ids never change

    async def people(self, ids: Iterable[int]) -> dict[int, Person]:
        missing = sorted({i for i in ids if i not in self._people})
        if missing:
            if len(self._people) > 100_000:
                self._people.clear()
            for d in await self._read.get_many(USERS, [str(i) for i in missing]):
                self._people[d.id] = Person(d.id, d.standard_id)
        return self._people

    async def members(self, conversation_ids: Iterable[int]) -> dict[int, list[int]]:
        keys = [str(i) for i in sorted(set(conversation_ids))]
        docs = await self._read.get_many(CONVERSATIONS, keys) if keys else []
        return {d.id: list(d.member_ids) for d in docs}

    async def files(self, file_ids: Iterable[str]) -> dict[str, FileFacts]:
        keys = sorted(set(file_ids))
        docs = await self._read.get_many(FILES, keys) if keys else []
        return {d.file_id: FileFacts(d.id, d.file_id, d.name, d.mime_type) for d in docs}


class LegacyRenderer:
    """``Relay`` ``render`` for the legacy protocol."""

    def __init__(
        self,
        read: ReadStore,
        topology: Topology,
        names: LegacyNames,
        wait_for: WaitFor,
        tz: dt.tzinfo = dt.UTC,
    ) -> None:
        self._dir = Directory(read)
        self._topology = topology
        self._names = names
        self._wait_for = wait_for
        self._tz = tz
        self._declared: set[int] = set()

    async def __call__(self, batch: Sequence[RecordedEvent]) -> list[OutgoingMessage]:
        events: list[tuple[RecordedEvent, Event]] = []
        for rec in batch:
            if rec.type not in _TYPES:
                continue
            try:
                events.append((rec, rec.decode()))
            except UnknownEventError:
                continue
        if not events:
            return []
        # The notices name people and conversations from the read models: wait until they
        # include this batch (each call is bounded; the relay is behind anyway while it waits).
        caught_up = False
        while not caught_up:
            caught_up = await self._wait_for(batch[-1].position)
        ctx = await self._context(events)
        out: list[OutgoingMessage] = []
        for rec, event in events:
            out.extend(await self._render(rec, event, ctx))
        return out

    async def _context(self, events: list[tuple[RecordedEvent, Event]]) -> _Context:
        people: set[int] = set()
        conversations: set[int] = set()
        file_ids: set[str] = set()
        for _, e in events:
            match e:
                case c.MessageSent():
                    people.add(e.sender_id)
                    if e.file_id:
                        file_ids.add(e.file_id)
                case c.ConversationCreated():
                    people.update(e.member_ids)
                    people.add(e.creator_id)
                case c.MemberAdded() | c.ConversationUpdated() | c.ConversationDissolved():
                    conversations.add(e.conversation_id)
                    if isinstance(e, c.MemberAdded):
                        people.update(e.user_ids)
                case c.MemberRemoved() | c.MemberRoleChanged():
                    conversations.add(e.conversation_id)
                    people.add(e.user_id)
                case BroadcastSent():
                    people.add(e.sender_id)
                    file_ids.update(e.attachments)
                case EventReported():
                    people.add(e.reporter_id)
                    file_ids.update(e.attachments)
        members = await self._dir.members(conversations)
        for ids in members.values():
            people.update(ids)
        return _Context(await self._dir.people(people), members, await self._dir.files(file_ids))

    async def _render(self, rec: RecordedEvent, e: Event, ctx: _Context) -> list[OutgoingMessage]:
        at = occurred_at(rec, e)
        n = self._names
        data: dict[str, Any]
        match e:
            case c.ConversationCreated():
                await self._declare(e.conversation_id)
                persons = [ctx.person(u) for u in e.member_ids]
                data = {
                    "conversation_id": e.conversation_id,
                    "type": e.conversation_type,
                    "name": e.name,
                    "master_standard_id": ctx.standard_id(e.creator_id),
                    "persons": persons,
                }
                return self._notices(rec, at, "create_conversation", data, e.member_ids, ctx)
            case c.MessageSent():
                if e.message_type == "system":
                    return []
                await self._declare(e.conversation_id)
                data = {
                    "id": e.message_id,
                    "conversation_id": e.conversation_id,
                    "create_time": lc.create_time(at, self._tz),
                    "publisher_standard_id": ctx.standard_id(e.sender_id),
                    "profile": [self._profile(e, ctx)],
                }
                key = f"c_{e.conversation_id}"
                return [_message(rec.id, "msg", key, data, at, rec, exchange=n.incoming)]
            case c.MemberAdded():
                data = {
                    "conversation_id": e.conversation_id,
                    "persons": [{"standard_id": ctx.standard_id(u)} for u in e.user_ids],
                }
                to = ctx.members.get(e.conversation_id, list(e.user_ids))
                return self._notices(rec, at, "join_conversation", data, to, ctx)
            case c.MemberRemoved():
                to = [*ctx.members.get(e.conversation_id, []), e.user_id]
                if e.is_self_exit:
                    data = {"conversation_id": e.conversation_id, "person": ctx.person(e.user_id)}
                    return self._notices(rec, at, "quit_conversation", data, to, ctx)
                data = {"conversation_id": e.conversation_id, "persons": [ctx.person(e.user_id)]}
                return self._notices(rec, at, "expulsion_conversation", data, to, ctx)
            case c.MemberRoleChanged(new_role="owner"):
                data = {
                    "conversation_id": e.conversation_id,
                    "master_standard_id": ctx.standard_id(e.user_id),
                }
                to = ctx.members.get(e.conversation_id, [])
                return self._notices(rec, at, "change_master_conversation", data, to, ctx)
            case c.ConversationUpdated() if "name" in e.changed:
                data = {"conversation_id": e.conversation_id, "name": e.name}
                to = ctx.members.get(e.conversation_id, [])
                return self._notices(rec, at, "update_name_conversation", data, to, ctx)
            case c.ConversationDissolved():
                data = {"conversation_id": e.conversation_id}
                to = ctx.members.get(e.conversation_id, [])
                return self._notices(rec, at, "dissolution_conversation", data, to, ctx)
            case BroadcastSent():
                data = {
                    "id": e.broadcast_id,
                    "create_time": lc.create_time(at, self._tz),
                    "publisher_standard_id": ctx.standard_id(e.sender_id),
                    "title": e.title,
                    "body": e.content,
                    "profile": _media(e.attachments, ctx),
                }
                return [_message(rec.id, "broadcast", "broadcast", data, at, rec)]
            case EventReported():
                data = {
                    "id": e.report_id,
                    "create_time": lc.create_time(e.occurred_at or at, self._tz),
                    "publisher_standard_id": ctx.standard_id(e.reporter_id),
                    "longitude": None if e.longitude is None else repr(e.longitude),
                    "latitude": None if e.latitude is None else repr(e.latitude),
                    "address": e.address,
                    "title": e.title,
                    "body": e.body,
                    "event_level": e.level,
                    "profile": _media(e.attachments, ctx),
                }
                return [_message(rec.id, "event", "event", data, at, rec)]
            case lc.WaterMarkUpdated():
                data = {
                    "id": e.id,
                    "mark": e.mark,
                    "transparency": e.transparency,
                    "name": e.name,
                    "phone": e.phone,
                    "date": e.date,
                }
                return [_message(rec.id, "update_water_mark", "u_.water_mark", data, at, rec)]
        return []

    def _profile(self, e: c.MessageSent, ctx: _Context) -> lc.Profile:
        if not e.file_id:
            return lc.Profile(e.message_id, lc.legacy_type(e.message_type, None), e.content, "")
        f = ctx.files.get(e.file_id)
        name = f.name if f is not None else e.content
        mime = f.mime_type if f is not None else None
        path = DOWNLOAD_PATH.format(file_id=e.file_id)
        return lc.Profile(
            f.id if f else e.message_id, lc.legacy_type(e.message_type, mime), name, path
        )

    def _notices(
        self,
        rec: RecordedEvent,
        at: float,
        cmd: str,
        data: dict[str, Any],
        to: Iterable[int],
        ctx: _Context,
    ) -> list[OutgoingMessage]:
        return [
            _message(f"{rec.id}:{sid}", cmd, f"u_{sid}", data, at, rec)
            for sid in dict.fromkeys(ctx.standard_id(u) for u in to)
            if sid is not None
        ]

    async def _declare(self, conversation_id: int) -> None:
        if conversation_id in self._declared:
            return
        n = self._names
        await self._topology.fanout_from(
            n.incoming, n.conversation(conversation_id), f"c_{conversation_id}"
        )
        self._declared.add(conversation_id)


class _Context(msgspec.Struct):
    people: dict[int, Person]
    members: dict[int, list[int]]
    files: dict[str, FileFacts]

    def standard_id(self, user_id: int) -> str | None:
        p = self.people.get(user_id)
        return p.standard_id if p is not None else None

    def person(self, user_id: int) -> dict[str, Any]:
        return {"id": user_id, "standard_id": self.standard_id(user_id)}


def _media(file_ids: Sequence[str], ctx: _Context) -> list[lc.Profile]:
    out: list[lc.Profile] = []
    for fid in file_ids:
        f = ctx.files.get(fid)
        kind = lc.media_type(f.mime_type if f else None)
        if f is not None and kind is not None:
            out.append(lc.Profile(f.id, kind, f.name, DOWNLOAD_PATH.format(file_id=fid)))
    return out


def _message(
    message_id: str,
    cmd: str,
    routing_key: str,
    data: Any,
    at: float,
    rec: RecordedEvent,
    exchange: str = "",
) -> OutgoingMessage:
    return OutgoingMessage(
        message_id=message_id,
        type=cmd,
        routing_key=routing_key,
        body=lc.body(cmd, data),
        timestamp=at,
        position=rec.position,
        exchange=exchange,
    )
