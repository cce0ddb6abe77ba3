"""The send path: per-conversation queue, seq assignment and one append per batch.

Sends to one conversation are serialised by a single flusher task per conversation; whatever
arrived while the previous append was in flight is decided and appended together (group commit).
Nothing here reads the conversation's history: the last ``seq`` is the stream version we keep.
A batch larger than ``MAX_APPEND_BYTES`` is appended in several appends, in order (KurrentDB
refuses appends over its size limit, 1 MiB by default).
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from commands.chat_state import ConversationCache, Entry, Key, Sent, SentLookup, WaitFor
from commands.core import RETRIES, IdAllocator
from domain import conversations as c
from domain.conversation import check_can_send, require_exists
from domain.errors import ConcurrencyError, DomainError, ForbiddenError, UnavailableError
from domain.store import EventStore, NewEvent, traced_event
from domain.tracing import Trace, current

MAX_APPEND_BYTES = 512 * 1024  # of event data per append: half of KurrentDB's default limit


class Draft(msgspec.Struct, frozen=True):
    """A message before it has a seq. ``system`` drafts skip the sender checks."""

    conversation_id: int
    sender_id: int
    message_type: c.MessageType
    content: str = ""
    reply_to_id: int | None = None
    client_msg_id: str | None = None
    file_id: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None
    system: bool = False


class SendResult(msgspec.Struct, frozen=True):
    """``event`` is set when this call wrote the message (created); else it is a repeat."""

    message_id: int
    seq: int
    position: int | None
    created: bool
    event: c.MessageSent | None = None


class _Pending:
    __slots__ = ("draft", "message_id", "future", "trace")

    def __init__(self, draft: Draft, message_id: int) -> None:
        self.draft = draft
        self.message_id = message_id
        # The flusher runs in the first sender's context: each message keeps its own request's.
        self.trace: Trace | None = current()
        self.future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()

    @property
    def key(self) -> Key | None:
        d = self.draft
        return None if d.client_msg_id is None else (d.sender_id, d.client_msg_id)

    def resolve(self, result: SendResult) -> None:
        if not self.future.done():
            self.future.set_result(result)

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)


class Sender:
    def __init__(
        self,
        store: EventStore,
        cache: ConversationCache,
        ids: IdAllocator,
        lookup: SentLookup,
        wait_for: WaitFor,
    ) -> None:
        self._store = store
        self._cache = cache
        self._ids = ids
        self._lookup = lookup
        self._wait_for = wait_for

    async def precheck(self, cid: int, user_id: int, client_msg_id: str | None) -> None:
        """Fail early (404/403) without queueing; the flusher checks again when deciding.
        A repeat of an earlier send passes: it will answer with the original."""
        entry = await self._cache.get(cid)
        require_exists(entry.state)
        try:
            await self._cache.checked(
                entry, lambda: check_can_send(entry.state, user_id, time.time())
            )
        except ForbiddenError:
            if await self._earlier(entry, user_id, client_msg_id) is None:
                raise

    async def send(self, draft: Draft) -> SendResult:
        entry = await self._cache.get(draft.conversation_id)
        require_exists(entry.state)
        if not draft.system:
            try:
                await self._cache.checked(
                    entry, lambda: check_can_send(entry.state, draft.sender_id, time.time())
                )
            except ForbiddenError:  # no longer allowed to send; a retry still gets its original
                earlier = await self._earlier(entry, draft.sender_id, draft.client_msg_id)
                if earlier is None:
                    raise
                return _repeat(earlier)
        pending = _Pending(draft, await self._ids.next("message"))
        entry.queue.append(pending)
        if entry.flusher is None:
            entry.flusher = asyncio.get_running_loop().create_task(self._flush(entry))
        return await pending.future

    async def _flush(self, entry: Entry) -> None:
        try:
            while entry.queue:
                batch: list[_Pending] = entry.queue  # type: ignore[assignment]
                entry.queue = []
                try:
                    await self._write(entry, batch)
                    # What did not fit in one append goes first in the next one.
                    entry.queue = [p for p in batch if not p.future.done()] + entry.queue
                except BaseException as exc:  # fail the callers, keep serving the next batch
                    for p in batch:
                        p.fail(exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
        finally:
            entry.flusher = None

    async def _write(self, entry: Entry, batch: list[_Pending]) -> None:
        # Another process may have changed the membership since we last looked: catch up if
        # that was a while ago, while looking up idempotency keys (independent reads).
        _, found = await asyncio.gather(
            self._cache.refresh_if_stale(entry), self._find_repeats(entry, batch)
        )
        if any(_refused(entry, p) for p in batch):
            await self._cache.refresh(entry)  # never refuse on a stale view
        for attempt in range(RETRIES):
            if attempt:
                found = await self._find_repeats(entry, batch)
            events, owners = self._decide(entry, batch, found)
            if not events:
                return
            traced = [traced_event(e, p.trace) for e, p in zip(events, owners, strict=True)]
            new, events = _fitting(traced, events)
            try:
                position = await self._store.append(
                    c.messages_stream(entry.cid), new, entry.msg_version
                )
            except ConcurrencyError:  # another process sent here: take its tail, decide again
                await self._cache.reload_messages(entry)
                continue
            entry.msg_version += len(events)
            entry.msg_position = max(entry.msg_position, position)
            for ev, p in zip(events, owners, strict=False):
                entry.own[ev.sender_id] = ev.seq
                result = SendResult(ev.message_id, ev.seq, position, True, ev)
                if p.key is not None:
                    entry.remember(p.key, Sent(ev.message_id, ev.seq, position))
                p.resolve(result)
            for p in batch:  # repeats of a key first sent within this batch
                key = p.key
                if not p.future.done() and key is not None and key in entry.recent:
                    p.resolve(_repeat(entry.recent[key]))
            return
        raise UnavailableError("The conversation is too busy right now; retry")

    async def _earlier(self, entry: Entry, sender: int, client_msg_id: str | None) -> Sent | None:
        if client_msg_id is None:
            return None
        key = (sender, client_msg_id)
        if key in entry.recent:
            return entry.recent[key]
        return (await self._lookup_keys(entry, [key])).get(key)

    async def _lookup_keys(self, entry: Entry, keys: list[Key]) -> dict[Key, Sent]:
        if entry.covers_all or not keys:
            return {}
        if not await self._wait_for(entry.floor):
            raise UnavailableError("The read models are behind; retry the send")
        return await self._lookup.find_sent(entry.cid, keys)

    async def _find_repeats(self, entry: Entry, batch: list[_Pending]) -> dict[Key, Sent]:
        keys = [k for p in batch if (k := p.key) is not None and k not in entry.recent]
        return await self._lookup_keys(entry, keys)

    def _decide(
        self, entry: Entry, batch: list[_Pending], found: dict[Key, Sent]
    ) -> tuple[list[c.MessageSent], list[_Pending]]:
        now = time.time()
        seq = entry.last_seq
        events: list[c.MessageSent] = []
        owners: list[_Pending] = []
        in_batch: set[Key] = set()
        for p in batch:
            if p.future.done():
                continue
            key = p.key
            if key is not None:
                earlier = entry.recent.get(key) or found.get(key)
                if earlier is not None:
                    p.resolve(_repeat(earlier))
                    continue
                if key in in_batch:
                    continue  # resolved after the append, with the first one's result
                in_batch.add(key)
            d = p.draft
            if not d.system:
                try:
                    check_can_send(entry.state, d.sender_id, now)
                except DomainError as exc:
                    p.fail(exc)
                    if key is not None:
                        in_batch.discard(key)
                    continue
            seq += 1
            events.append(_event(d, p.message_id, seq, now))
            owners.append(p)
        return events, owners


def _fitting(
    new: list[NewEvent], events: list[c.MessageSent]
) -> tuple[list[NewEvent], list[c.MessageSent]]:
    """The longest prefix within ``MAX_APPEND_BYTES`` (at least one event)."""
    size, count = 0, 0
    for e in new:
        size += len(e.data) + len(e.metadata)
        if count and size > MAX_APPEND_BYTES:
            break
        count += 1
    return new[:count], events[:count]


def _refused(entry: Entry, p: _Pending) -> bool:
    if p.draft.system or p.future.done():
        return False
    try:
        check_can_send(entry.state, p.draft.sender_id, time.time())
    except DomainError:
        return True
    return False


def _repeat(sent: Sent) -> SendResult:
    return SendResult(sent.message_id, sent.seq, sent.position, False)


def _event(d: Draft, message_id: int, seq: int, at: float) -> c.MessageSent:
    return c.MessageSent(
        message_id=message_id,
        conversation_id=d.conversation_id,
        seq=seq,
        sender_id=d.sender_id,
        message_type=d.message_type,
        content=d.content,
        reply_to_id=d.reply_to_id,
        client_msg_id=d.client_msg_id,
        file_id=d.file_id,
        latitude=d.latitude,
        longitude=d.longitude,
        address=d.address,
        at=at,
    )
