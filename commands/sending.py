"""The send path: per-conversation queue and one append per batch (group commit).

Sends to one conversation are serialised by a single flusher task per conversation; whatever
arrived while the previous append was in flight is decided together by ``domain.sending``
(``decide_batch``) and appended at once. Nothing here reads the conversation's history: the
last ``seq`` is the stream version we keep. A batch larger than ``MAX_APPEND_BYTES`` is
appended in several appends, in order (KurrentDB refuses appends over its size limit, 1 MiB by
default).
"""

from __future__ import annotations

import asyncio
import time

import msgspec

from commands.chat_state import ConversationCache, Entry, Key, Sent, SentLookup, WaitFor
from commands.core import RETRIES, IdAllocator
from domain import conversations as c
from domain.errors import ConcurrencyError, DomainError, ForbiddenError, UnavailableError
from domain.sending import Decision, Draft, Repeat, decide_batch, may_send
from domain.store import EventStore, NewEvent, traced_event
from domain.tracing import Trace, current

MAX_APPEND_BYTES = 512 * 1024  # of event data per append: half of KurrentDB's default limit

SEND_RETRIES = 4 * RETRIES  # several command processes may share a busy conversation

__all__ = ["Draft", "SendResult", "Sender"]


class SendResult(msgspec.Struct, frozen=True):
    """``event`` is set when this call wrote the message (created); else it is a repeat."""

    message_id: int
    seq: int
    position: int | None
    created: bool
    event: c.MessageSent | None = None


class _Pending:
    __slots__ = ("draft", "future", "message_id", "trace")

    def __init__(self, draft: Draft, message_id: int) -> None:
        self.draft = draft
        self.message_id = message_id
        # The flusher runs in the first sender's context: each message keeps its own request's.
        self.trace: Trace | None = current()
        self.future: asyncio.Future[SendResult] = asyncio.get_running_loop().create_future()

    @property
    def key(self) -> Key | None:
        return self.draft.key

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
        """Authorise early (404/403), before the lookups some sends need (a reply target, a
        file); the flusher decides each send. A repeat of an earlier send passes: it will
        answer with the original."""
        entry = await self._cache.get(cid)
        try:
            await self._cache.checked(entry, lambda: may_send(entry.state, user_id, time.time()))
        except ForbiddenError:
            if await self._earlier(entry, user_id, client_msg_id) is None:
                raise

    async def send(self, draft: Draft) -> SendResult:
        """Queue the draft; the conversation's flusher decides and appends it with the batch."""
        entry = await self._cache.get(draft.conversation_id)
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
        live = [p for p in batch if not p.future.done()]
        refreshed = False
        position: int | None = None
        for attempt in range(SEND_RETRIES):
            if attempt:
                found = await self._find_repeats(entry, live)
            decisions = self._decide(entry, live, found)
            if not refreshed and any(isinstance(d, DomainError) for d in decisions):
                refreshed = True  # never refuse on a stale view: catch up, decide again
                await self._cache.refresh(entry)
                # (again even if nothing new was read: this process's own changes may have
                # landed meanwhile; a decision is only ever made right before its append)
                decisions = self._decide(entry, live, found)
            events = [d for d in decisions if isinstance(d, c.MessageSent)]
            if events:
                traced = [
                    traced_event(d, p.trace)
                    for p, d in zip(live, decisions, strict=True)
                    if isinstance(d, c.MessageSent)
                ]
                new, fitting = _fitting(traced, events)
                if len(fitting) < len(events):  # the rest goes first in the next append
                    cut = decisions.index(events[len(fitting)])
                    live, decisions, events = live[:cut], decisions[:cut], fitting
                expected = entry.msg_version
                try:
                    position = await self._store.append(c.messages_stream(entry.cid), new, expected)
                except ConcurrencyError:  # another process sent here: take its tail, again
                    await self._cache.reload_messages(entry)
                    live = [p for p in batch if not p.future.done()]
                    continue
                # (a concurrent tail read may have applied these already: never count twice)
                entry.msg_version = max(entry.msg_version, expected + len(events))
                entry.msg_position = max(entry.msg_position, position)
            mine: dict[Key, Sent] = {}
            for p, d in zip(live, decisions, strict=True):
                if isinstance(d, c.MessageSent):
                    entry.own[d.sender_id] = d.seq
                    if p.key is not None:
                        mine[p.key] = Sent(d.message_id, d.seq, position)
                        entry.remember(p.key, mine[p.key])
                    p.resolve(SendResult(d.message_id, d.seq, position, True, d))
                elif isinstance(d, DomainError):
                    p.fail(d)
            for p, d in zip(live, decisions, strict=True):  # after this batch's keys are known
                if isinstance(d, Repeat):
                    earlier = mine.get(d.key) or entry.recent.get(d.key) or found[d.key]
                    p.resolve(_repeat(earlier))
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

    @staticmethod
    def _decide(entry: Entry, live: list[_Pending], found: dict[Key, Sent]) -> list[Decision]:
        drafts = [(p.draft, p.message_id) for p in live]
        return decide_batch(entry.state, drafts, entry.last_seq, _Known(entry, found), time.time())


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


class _Known:
    """The idempotency keys sent in a conversation: those we remember and those looked up."""

    __slots__ = ("_found", "_recent")

    def __init__(self, entry: Entry, found: dict[Key, Sent]) -> None:
        self._recent = entry.recent
        self._found = found

    def __contains__(self, key: object) -> bool:
        return key in self._recent or key in self._found


def _repeat(sent: Sent) -> SendResult:
    return SendResult(sent.message_id, sent.seq, sent.position, False)
