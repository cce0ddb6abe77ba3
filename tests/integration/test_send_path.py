"""The send path on the SQLite event store, observed through a recording wrapper: concurrent
sends to one conversation share appends (group commit), sending never reads the message
history, a cold load reads only the stream's tail, and a conflict reads only what is new."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from commands.chat_state import ConversationCache, Key, Sent
from commands.core import IdAllocator, append
from commands.event_store.sqlite import SqliteEventStore
from commands.sending import Draft, Sender
from domain import conversations as c
from domain.store import NO_STREAM, NewEvent, RecordedEvent, new_event


class Recording:
    """An EventStore that counts appends and the events read, per stream category."""

    def __init__(self, inner: SqliteEventStore) -> None:
        self.inner = inner
        self.appends: list[tuple[str, int]] = []
        self.read_events: dict[str, int] = {}

    async def append(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None
    ) -> int:
        self.appends.append((stream, len(events)))
        return await self.inner.append(stream, events, expected_version)

    async def read(self, stream: str, from_version: int = 0) -> list[RecordedEvent]:
        out = await self.inner.read(stream, from_version)
        cat = stream.partition("-")[0]
        self.read_events[cat] = self.read_events.get(cat, 0) + len(out)
        return out

    async def last(self, stream: str) -> RecordedEvent | None:
        return await self.inner.last(stream)

    def subscribe(self, after_position: int = 0) -> AsyncIterator[list[RecordedEvent]]:
        return self.inner.subscribe(after_position)

    async def head(self) -> int:
        return await self.inner.head()

    async def events_after(self, position: int, limit: int) -> int:
        return await self.inner.events_after(position, limit)

    async def close(self) -> None:
        await self.inner.close()


class NoLookup:
    async def find_sent(self, conversation_id: int, keys: Sequence[Key]) -> dict[Key, Sent]:
        return {}


async def _ready(_: int) -> bool:
    return True


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Recording]:
    rec = Recording(SqliteEventStore(tmp_path / "events.sqlite3"))
    yield rec
    await rec.close()


async def _group(store: Recording, cid: int, members: tuple[int, ...]) -> None:
    created = c.ConversationCreated(
        conversation_id=cid, conversation_type="group", creator_id=1, member_ids=members
    )
    await append(store, c.conversation_stream(cid), [created], NO_STREAM)


def _sender(store: Recording, recent_keys: int = 2000) -> Sender:
    cache = ConversationCache(store, recent_keys=recent_keys)  # type: ignore[arg-type]
    ids = IdAllocator(store, block_size=1000)  # type: ignore[arg-type]  # as in gateway.app.CommandSide
    return Sender(store, cache, ids, NoLookup(), _ready)  # type: ignore[arg-type]


def _draft(cid: int, sender: int, n: int, key: str | None = None) -> Draft:
    return Draft(cid, sender, "text", f"m{n}", client_msg_id=key)


async def test_concurrent_sends_share_appends(store: Recording) -> None:
    await _group(store, 7, (1, 2, 3))
    sender = _sender(store)
    await sender.send(_draft(7, 1, 0))  # the conversation is loaded, ids are reserved
    results = await asyncio.gather(*(sender.send(_draft(7, 1 + n % 3, n)) for n in range(200)))
    assert sorted(r.seq for r in results) == list(range(2, 202))
    appends = [n for stream, n in store.appends if stream == c.messages_stream(7)][1:]
    assert sum(appends) == 200
    assert len(appends) <= 3  # 200 sends arriving together, one or two appends
    assert store.read_events.get("messages", 0) == 0  # never read the history


async def test_cold_load_reads_only_the_tail(store: Recording) -> None:
    await _group(store, 8, (1, 2))
    stream = c.messages_stream(8)
    events = [
        new_event(
            c.MessageSent(
                message_id=10_000 + k,
                conversation_id=8,
                seq=k + 1,
                sender_id=1,
                message_type="text",
                content="x",
            )
        )
        for k in range(5000)
    ]
    await store.append(stream, events, NO_STREAM)
    sender = _sender(store, recent_keys=100)
    result = await sender.send(_draft(8, 2, 0))
    assert result.seq == 5001
    assert store.read_events["messages"] == 100  # the tail for the idempotency map, no more
    for n in range(1, 50):
        assert (await sender.send(_draft(8, 2, n))).seq == 5001 + n
    assert store.read_events["messages"] == 100


async def test_conflict_reads_only_the_new_tail(store: Recording) -> None:
    await _group(store, 9, (1, 2))
    one, two = _sender(store), _sender(store)  # two processes
    assert (await one.send(_draft(9, 1, 0, key="a"))).seq == 1
    for n in range(5):
        assert (await two.send(_draft(9, 2, n))).seq == n + 2
    before = store.read_events.get("messages", 0)
    assert (await one.send(_draft(9, 1, 9))).seq == 7  # conflict: reads the 5 it missed
    assert store.read_events["messages"] - before == 5
    repeat = await two.send(_draft(9, 1, 0, key="a"))  # a retry through the other process
    assert (repeat.created, repeat.seq) == (False, 1)


async def test_cache_keeps_a_bounded_number_of_conversations(store: Recording) -> None:
    for cid in (21, 22, 23):
        await _group(store, cid, (1, 2))
    cache = ConversationCache(store, max_cached=2)  # type: ignore[arg-type]
    ids = IdAllocator(store, block_size=1000)  # type: ignore[arg-type]
    sender = Sender(store, cache, ids, NoLookup(), _ready)  # type: ignore[arg-type]
    for cid in (21, 22, 23):
        assert (await sender.send(_draft(cid, 1, 0))).seq == 1
    assert cache.forget_idle() == 2  # the least recently used one was dropped already
    assert (await sender.send(_draft(21, 2, 1))).seq == 2  # loads again, continues the seq
