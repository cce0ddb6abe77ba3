"""``KurrentDbEventStore`` under the server's failure modes, each switched on in the fake.

Every test also checks that the knob fired (the fake's counters), so none of them can pass
because the fault never happened.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from kurrentdbclient import NewEvent as KurrentNewEvent
from kurrentdbclient.exceptions import GrpcDeadlineExceededError

from commands.event_store.kurrentdb import KurrentDbEventStore
from domain.errors import ConcurrencyError, TooLargeError
from domain.store import NO_STREAM, NewEvent, RecordedEvent
from tests.contract.fake_kurrentdb import FakeKurrentDB, install


def ev(size: int = 2) -> NewEvent:
    return NewEvent(id=str(uuid.uuid4()), type="test.Thing", data=b"{" + b" " * (size - 2) + b"}")


def open_store(server: FakeKurrentDB) -> KurrentDbEventStore:
    store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
    install(store, server)
    return store


async def follow(store: KurrentDbEventStore, after: int, count: int) -> list[RecordedEvent]:
    got: list[RecordedEvent] = []
    gen = store.subscribe(after)
    try:
        async with asyncio.timeout(10):
            async for batch in gen:
                got.extend(batch)
                if len(got) >= count:
                    break
    finally:
        await gen.aclose()  # type: ignore[attr-defined]
    return got


@pytest.mark.parametrize("expected", ["version", "any"])
async def test_an_append_that_times_out_after_committing_is_written_once(expected: str) -> None:
    server = FakeKurrentDB(id_cache=0)  # the server has forgotten every id at once
    store = open_store(server)
    await store.append("thing-1", [ev()], NO_STREAM)
    batch = [ev(), ev()]
    server.time_out_after_commit(times=1)
    pos = await store.append("thing-1", batch, 0 if expected == "version" else None)
    assert server.timeouts == 1
    recs = await store.read("thing-1")
    assert [r.id for r in recs[1:]] == [e.id for e in batch]  # once, not twice
    assert recs[-1].position == pos
    await store.close()


async def test_a_timed_out_append_that_lost_the_race_is_a_conflict() -> None:
    server = FakeKurrentDB()
    store = open_store(server)
    await store.append("thing-1", [ev()], NO_STREAM)
    original = server.commit
    calls = 0

    def commit_then_lose(stream: str, batch: list[object], current: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:  # our first try never reached the log, and someone else wrote
            original(stream, [KurrentNewEvent(type="test.Other", data=b"{}")], 0)
            raise GrpcDeadlineExceededError("deadline")
        return original(stream, batch, current)  # type: ignore[arg-type]

    server.commit = commit_then_lose  # type: ignore[method-assign, assignment]
    with pytest.raises(ConcurrencyError):
        await store.append("thing-1", [ev()], 0)
    assert calls == 2
    assert [r.version for r in await store.read("thing-1")] == [0, 1]
    await store.close()


async def test_an_oversize_append_is_too_large_and_writes_nothing() -> None:
    server = FakeKurrentDB(max_append_bytes=1000)
    store = open_store(server)
    with pytest.raises(TooLargeError):
        await store.append("thing-1", [ev(600), ev(600)], NO_STREAM)
    assert await store.read("thing-1") == []
    await store.append("thing-1", [ev(600)], NO_STREAM)
    assert len(await store.read("thing-1")) == 1
    await store.close()


async def test_an_any_version_repeat_the_server_half_remembers_is_refused_not_duplicated() -> None:
    server = FakeKurrentDB(id_cache=1)
    store = open_store(server)
    first, second = ev(), ev()
    await store.append("thing-1", [first, second], None)  # the cache now holds only ``second``
    with pytest.raises(ConcurrencyError):
        await store.append("thing-1", [first, second], None)
    assert [r.id for r in await store.read("thing-1")] == [first.id, second.id]
    await store.close()


@pytest.mark.parametrize("drop_slow", [False, True])
async def test_a_slow_consumer_falls_back_to_catch_up_and_misses_nothing(drop_slow: bool) -> None:
    server = FakeKurrentDB(live_buffer=2, catchup_page=3, drop_slow_consumers=drop_slow)
    store = open_store(server)
    written: list[str] = []
    got: list[RecordedEvent] = []
    gen = store.subscribe(0)

    async def consume() -> None:
        async for batch in gen:
            got.extend(batch)
            await asyncio.sleep(0.002)  # slower than the writer
            if len(got) >= 200:
                return

    consumer = asyncio.create_task(consume())
    for i in range(100):
        batch = [ev(), ev()]
        await store.append(f"thing-{i % 7}", batch, None)
        written.extend(e.id for e in batch)
        await asyncio.sleep(0)
    async with asyncio.timeout(20):
        await consumer
    await gen.aclose()  # type: ignore[attr-defined]
    assert sorted(r.id for r in got) == sorted(written)
    assert [r.position for r in got] == sorted(r.position for r in got)
    assert server.fallbacks > 0
    assert server.drops == (server.fallbacks if drop_slow else 0)
    assert len(server.subscriptions) == 0
    await store.close()


async def test_dropped_subscriptions_resume_without_gap_or_repeat() -> None:
    server = FakeKurrentDB(drop_subscription_after=3, catchup_page=2, first_position=10**12)
    store = open_store(server)
    ids = []
    for i in range(20):
        e = ev()
        ids.append(e.id)
        await store.append(f"thing-{i}", [e], NO_STREAM)
    got = await follow(store, 0, 20)
    assert [r.id for r in got] == ids
    assert server.drops >= 6
    assert all(r.position > 10**12 for r in got)
    server.drop_subscription_after = None
    gen = store.subscribe(got[9].position)
    task: asyncio.Task[list[RecordedEvent]] = asyncio.create_task(anext(gen))  # type: ignore[arg-type]
    first = await task
    server.drop_subscriptions()  # a server restart while live
    more = ev()
    await store.append("thing-x", [more], NO_STREAM)
    rest = list(first)
    async with asyncio.timeout(10):
        while len(rest) < 11:
            rest.extend(await anext(gen))  # type: ignore[arg-type]
    assert [r.id for r in rest] == [*ids[10:], more.id]
    await gen.aclose()  # type: ignore[attr-defined]
    await store.close()


async def test_interleaved_appends_commit_in_an_order_unrelated_to_their_calls() -> None:
    server = FakeKurrentDB(interleave=True, seed=7)
    store = open_store(server)
    order: list[int] = []

    async def one(i: int) -> None:
        await store.append(f"thing-{i}", [ev()], NO_STREAM)
        order.append(i)

    await asyncio.gather(*(one(i) for i in range(30)))
    committed = [int(r.stream_name.split("-")[1]) for r in server.log if r.type == "test.Thing"]
    assert sorted(committed) == list(range(30))
    assert committed != list(range(30))  # the calls' order was not the commit order...
    assert order != committed  # ...and answers come back in yet another order
    await store.close()
