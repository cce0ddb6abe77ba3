"""Per-conversation command state, loaded once and kept current in memory.

A cold load reads ``conversation-{id}`` (membership and settings: small), the last event of
``messages-{id}`` (whose version gives the last ``seq``) and the tail of recent messages for the
idempotency map; never the whole message history. Our own appends keep the state current; a
``ConcurrencyError`` (another process appended) reads only the tail since the known version.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import msgspec

from domain import consistency
from domain import conversations as c
from domain.conversation import Conversation, evolve_all
from domain.errors import DomainError
from domain.store import NO_STREAM, EventStore, RecordedEvent

RECENT_KEYS = 2000  # idempotency keys kept in memory per conversation
MAX_CACHED = 20_000  # conversations kept in memory per process
REFRESH_S = 0.5  # how stale a successful membership check may be (other processes' changes)
T = TypeVar("T")

Key = tuple[int, str]  # (sender id, client_msg_id)


class Sent(msgspec.Struct, frozen=True):
    """Where an earlier send of an idempotency key landed; ``position`` None = already projected."""

    message_id: int
    seq: int
    position: int | None


class Directory(Protocol):
    """Names of existing users (missing ids are left out)."""

    async def names(self, user_ids: Sequence[int]) -> dict[int, str]: ...


class SentLookup(Protocol):
    """Messages already stored under these idempotency keys, from the read model."""

    async def find_sent(self, conversation_id: int, keys: Sequence[Key]) -> dict[Key, Sent]: ...


WaitFor = Callable[[int], Awaitable[bool]]


class Entry:
    """One conversation's command state."""

    def __init__(self, cid: int, recent_keys: int = RECENT_KEYS) -> None:
        self.cid = cid
        self.recent_keys = recent_keys
        self.state = Conversation()
        self.version = NO_STREAM  # of conversation-{id}
        self.position = 0  # of the last conversation-{id} event we know
        self.checked_at = time.monotonic()  # when ``version`` was last known to be current
        self.verified = 0  # a position the state was last refreshed for (X-Min-Position)
        self.msg_version = NO_STREAM  # of messages-{id}; last seq == msg_version + 1
        self.lock = asyncio.Lock()  # serialises conversation-stream decisions
        self.read_lock = asyncio.Lock()  # serialises watermark appends
        self.queue: list[object] = []  # pending sends (commands.sending owns their type)
        self.flusher: asyncio.Task[None] | None = None
        self.recent: OrderedDict[Key, Sent] = OrderedDict()
        self.covers_all = True  # ``recent`` holds every key ever sent here
        # A key lookup in the read model must wait until it includes ``floor``: the history
        # before the loaded tail and every key evicted from ``recent`` lie at or below it.
        self.floor = 0
        self.msg_position = 0  # of the last message we know
        self.watermarks: dict[int, tuple[int, int]] = {}  # user -> (explicit seq, reads version)
        self.own: dict[int, int] = {}  # user -> seq of their last message seen here

    @property
    def last_seq(self) -> int:
        return self.msg_version + 1

    @property
    def busy(self) -> bool:
        return bool(self.queue) or self.flusher is not None or self.lock.locked()

    def remember(self, key: Key, sent: Sent) -> None:
        self.recent[key] = sent
        if len(self.recent) > self.recent_keys:
            _, evicted = self.recent.popitem(last=False)
            self.floor = max(self.floor, evicted.position or 0)
            self.covers_all = False

    def apply_conversation(self, recs: Sequence[RecordedEvent]) -> None:
        # Two reloads of one process may overlap and finish in either order: only what is newer
        # than the state applies (applying an older read again would undo a later removal).
        fresh = [r for r in recs if r.version > self.version]
        if fresh:
            self.state = evolve_all(self.state, (r.decode() for r in fresh))
            self.version = fresh[-1].version
            self.position = max(self.position, fresh[-1].position)

    @property
    def known_position(self) -> int:
        """A position that covers everything we know of this conversation and its messages."""
        return max(self.position, self.msg_position)

    def apply_messages(self, recs: Sequence[RecordedEvent]) -> None:
        for rec in recs:
            if rec.version <= self.msg_version:  # an overlapping reload got here first
                continue
            ev = rec.decode()
            if isinstance(ev, c.MessageSent):
                if ev.client_msg_id is not None:
                    sent = Sent(ev.message_id, ev.seq, rec.position)
                    self.remember((ev.sender_id, ev.client_msg_id), sent)
                self.own[ev.sender_id] = ev.seq
            self.msg_version = rec.version
            self.msg_position = max(self.msg_position, rec.position)


class ConversationCache:
    """Loads conversations on first use and keeps a bounded number in memory."""

    def __init__(
        self,
        store: EventStore,
        max_cached: int = MAX_CACHED,
        recent_keys: int = RECENT_KEYS,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._store = store
        self._max = max_cached
        self.recent_keys = recent_keys
        self.refresh_s = refresh_s
        self._entries: OrderedDict[int, Entry] = OrderedDict()
        self._loading: dict[int, asyncio.Future[Entry]] = {}

    async def get(self, cid: int) -> Entry:
        """The conversation's entry; ``entry.state.exists`` is False for an unknown id."""
        entry = self._entries.get(cid)
        if entry is not None:
            self._entries.move_to_end(cid)
            return entry
        pending = self._loading.get(cid)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._loading[cid] = fut
        try:
            entry = await self._load(cid)
            fut.set_result(entry)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # mark retrieved; waiters re-raise it
            raise
        finally:
            del self._loading[cid]
        if entry.state.exists:
            self.put(entry)
        return entry

    def put(self, entry: Entry) -> None:
        self._entries[entry.cid] = entry
        self._entries.move_to_end(entry.cid)
        if len(self._entries) > self._max:
            excess = len(self._entries) - self._max
            for cid in list(itertools.islice(self._entries, excess)):  # least recently used
                if not self._entries[cid].busy:
                    del self._entries[cid]

    def forget_idle(self) -> int:
        """Drop every idle conversation (they load again on next use); returns how many."""
        idle = [cid for cid, e in self._entries.items() if not e.busy]
        for cid in idle:
            del self._entries[cid]
        return len(idle)

    def new_entry(self, cid: int) -> Entry:
        return Entry(cid, self.recent_keys)

    async def _load(self, cid: int) -> Entry:
        entry = self.new_entry(cid)
        entry.apply_conversation(await self._store.read(c.conversation_stream(cid)))
        if not entry.state.exists:
            return entry
        stream = c.messages_stream(cid)
        last = await self._store.last(stream)
        if last is not None:
            start = max(0, last.version - self.recent_keys + 1)
            entry.covers_all = start == 0
            entry.floor = last.position
            entry.apply_messages(await self._store.read(stream, start))
        return entry

    async def reload_conversation(self, entry: Entry) -> None:
        """Catch up with another process's appends to ``conversation-{id}``."""
        entry.apply_conversation(
            await self._store.read(c.conversation_stream(entry.cid), entry.version + 1)
        )

    async def reload_messages(self, entry: Entry) -> None:
        entry.apply_messages(
            await self._store.read(c.messages_stream(entry.cid), entry.msg_version + 1)
        )

    async def refresh(self, entry: Entry) -> bool:
        """Catch up with another process's appends to ``conversation-{id}``: one read of the
        stream's last event, and of the tail if it moved. True when something changed."""
        checked = time.monotonic()
        last = await self._store.last(c.conversation_stream(entry.cid))
        changed = last is not None and last.version != entry.version
        if changed:
            await self.reload_conversation(entry)
        entry.checked_at = max(entry.checked_at, checked)
        return changed

    async def refresh_if_stale(self, entry: Entry) -> None:
        if time.monotonic() - entry.checked_at > self.refresh_s:
            await self.refresh(entry)

    async def refresh_if_required(self, entry: Entry) -> None:
        """The request depends on a position this state may not include (another process
        wrote it): catch up first, once per such position."""
        wanted = consistency.required()
        if wanted > max(entry.known_position, entry.verified):
            await self.refresh(entry)
            await self.reload_messages(entry)
            entry.verified = max(entry.verified, wanted)

    async def checked(self, entry: Entry, check: Callable[[], T]) -> T:
        """``check()`` against the state; if it fails, once more after catching up with other
        processes, so that a fresh grant (say, being added elsewhere) is never refused. A
        request's ``X-Min-Position`` newer than the state is caught up with first, so a fresh
        refusal (muted, removed elsewhere) is never granted to a client that knows of it."""
        await self.refresh_if_required(entry)
        try:
            return check()
        except DomainError:
            if not await self.refresh(entry):
                raise
        return check()
