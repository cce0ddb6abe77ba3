"""The EventStore contract, run against every adapter.

Legs: SQLite (always); ``KurrentDbEventStore`` over an in-memory fake of the client (always: the
adapter's own logic), once kind and once unkind (interleaved appends, a small id cache, appends
that time out after committing, subscriptions dropped every few events and live buffers so small
that consumers keep falling back to catch-up, positions around 10^12); ``KurrentDbEventStore``
against a real server when
``IM_TEST_KURRENTDB_URL`` is set (skipped with the reason otherwise). A real server is shared, so
every test works in its own streams (a unique prefix) and looks only at those.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands.event_store.kurrentdb import KurrentDbEventStore
from commands.event_store.sqlite import SqliteEventStore
from domain.chain import GENESIS, ChainState, unseal
from domain.errors import ConcurrencyError
from domain.store import NO_STREAM, EventStore, NewEvent, RecordedEvent
from tests.contract.fake_kurrentdb import FakeKurrentDB, install

DEADLINE_S = 15.0


class Space:
    """Durable event-store data (a file, a server) that store instances can be opened over."""

    def __init__(self, open_store: Callable[[], EventStore]) -> None:
        self._open = open_store
        self.prefix = "t" + uuid.uuid4().hex[:10]

    def open(self) -> EventStore:
        return self._open()

    def stream(self, name: str) -> str:
        return f"{self.prefix}{name}-1"

    def ours(self, rec: RecordedEvent) -> bool:
        return rec.stream.startswith(self.prefix)


class EventBackend:
    """One adapter and its capabilities: ``local_notify`` means live delivery within ms."""

    def __init__(self, name: str, examples: int, local_notify: bool, url: str | None = None):
        self.name = name
        # an any-version append is sealed and written in one transaction (else: head read first)
        self.atomic_any_append = name == "sqlite"
        self.examples = examples
        self.local_notify = local_notify
        self._url = url

    @asynccontextmanager
    async def space(self) -> AsyncIterator[Space]:
        if self.name == "sqlite":
            folder = tempfile.mkdtemp(prefix="im-es-")
            try:
                yield Space(lambda: SqliteEventStore(os.path.join(folder, "events.sqlite3")))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
        elif self.name.startswith("kurrentdb-"):
            server = unkind_server() if self.name == "kurrentdb-unkind" else FakeKurrentDB()
            self.server: FakeKurrentDB | None = server

            def open_fake() -> EventStore:
                store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
                install(store, server)
                return store

            yield Space(open_fake)
        else:
            url = self._url
            assert url is not None
            yield Space(lambda: KurrentDbEventStore(url))


def unkind_server(seed: int = 0) -> FakeKurrentDB:
    server = FakeKurrentDB(
        id_cache=64,
        interleave=True,
        seed=seed,
        max_append_bytes=64 * 1024,
        drop_subscription_after=7,
        live_buffer=3,
        catchup_page=4,
        first_position=10**12,
        time_out_every=3,
    )
    return server


@pytest.fixture(params=["sqlite", "kurrentdb-fake", "kurrentdb-unkind", "kurrentdb"])
def backend(request: pytest.FixtureRequest) -> EventBackend:
    if request.param == "sqlite":
        return EventBackend("sqlite", examples=25, local_notify=True)
    if request.param in ("kurrentdb-fake", "kurrentdb-unkind"):
        return EventBackend(request.param, examples=25, local_notify=False)
    url = os.environ.get("IM_TEST_KURRENTDB_URL")
    if not url:
        pytest.skip("IM_TEST_KURRENTDB_URL is not set: the KurrentDB leg needs a server")
    return EventBackend("kurrentdb", examples=15, local_notify=False, url=url)


@pytest.fixture
async def space(backend: EventBackend) -> AsyncIterator[Space]:
    async with backend.space() as sp:
        yield sp


@pytest.fixture
async def store(space: Space) -> AsyncIterator[EventStore]:
    s = space.open()
    try:
        yield s
    finally:
        await s.close()


def ev(kind: str = "Thing", **data: Any) -> NewEvent:
    return NewEvent(
        id=str(uuid.uuid4()),
        type=f"test.{kind}",
        data=msgspec.json.encode(data or {"n": 1}),
        metadata=b'{"schema_version":1}',
    )


class Follower:
    """Consumes one subscription in a task; checks batches are non-empty and strictly ordered."""

    def __init__(self, store: EventStore, space: Space, after: int) -> None:
        self.start = after
        self.position = after
        self.got: list[RecordedEvent] = []
        self.arrived: dict[str, float] = {}
        self._space = space
        self._changed = asyncio.Event()
        self._gen = store.subscribe(after)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for batch in self._gen:
            assert batch, "subscriptions yield non-empty batches"
            now = time.perf_counter()
            for rec in batch:
                assert rec.position > self.position, "positions must strictly increase"
                self.position = rec.position
                if self._space.ours(rec):
                    self.got.append(rec)
                    self.arrived[rec.id] = now
            self._changed.set()

    async def wait_for(self, count: int, timeout: float = DEADLINE_S) -> None:
        deadline = time.monotonic() + timeout
        while len(self.got) < count:
            if self._task.done():
                self._task.result()  # raise what went wrong inside
                raise AssertionError("the subscription ended early")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"got {len(self.got)} of {count} events before the deadline")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.2))

    async def stop(self) -> None:
        if self._task.done():
            self._task.result()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._gen.aclose()  # type: ignore[attr-defined]


async def in_position_order(store: EventStore, streams: Iterable[str]) -> list[RecordedEvent]:
    """Every event of these streams, read back, in global order: the truth subscribers match."""
    recs = [r for s in streams for r in await store.read(s)]
    return sorted(recs, key=lambda r: r.position)


# -- append, read, last, head ----------------------------------------------------------------------


async def test_append_read_last_head(store: EventStore, space: Space) -> None:
    s = space.stream("a")
    assert await store.read(s) == []
    assert await store.last(s) is None
    before = await store.head()
    batch = [ev(n=1), ev(n=2), ev(n=3)]
    pos = await store.append(s, batch, NO_STREAM)
    assert pos > before
    assert await store.head() >= pos
    recs = await store.read(s)
    assert [r.id for r in recs] == [e.id for e in batch]
    assert [r.version for r in recs] == [0, 1, 2]
    assert [(r.type, r.data) for r in recs] == [(e.type, e.data) for e in batch]
    # The metadata as given, sealed with the stream's hash chain (prev_hash, hash) at the end.
    for r, e in zip(recs, batch, strict=True):
        assert r.metadata.startswith(e.metadata[:-1] + b",")
    assert all(r.stream == s for r in recs)
    assert [r.position for r in recs] == sorted({r.position for r in recs})
    assert recs[-1].position == pos
    assert all(r.recorded_at > 0 for r in recs)
    assert [r.id for r in await store.read(s, 2)] == [batch[2].id]
    assert await store.read(s, 3) == []
    assert await store.last(s) == recs[-1]
    more = ev(n=4)
    pos2 = await store.append(s, [more], 2)
    assert pos2 > pos
    last = await store.last(s)
    assert last is not None and (last.id, last.version, last.position) == (more.id, 3, pos2)


async def test_events_after_counts_events_whatever_the_positions(
    store: EventStore, space: Space, backend: EventBackend
) -> None:
    """Distances in events (resume horizon, lag) come from the store: positions are opaque
    (the fake KurrentDB steps them by 97-389 like the log's byte offsets)."""
    s = space.stream("count")
    positions = [await store.append(s, [ev(n=i)], i - 1 if i else NO_STREAM) for i in range(30)]
    exact = backend.name != "kurrentdb"  # a real server is shared with other tests' events
    for k in (0, 10, 29):
        n = await store.events_after(positions[k], 1000)
        assert n == 29 - k if exact else n >= 29 - k
    assert await store.events_after(positions[0], 5) == 5  # counting stops at the limit
    assert await store.events_after(positions[0], 0) == 0
    if backend.name == "kurrentdb-fake":
        assert positions[29] - positions[0] > 29  # sparse: subtraction would be wrong


async def test_append_needs_events(store: EventStore, space: Space) -> None:
    with pytest.raises(ValueError, match="at least one event"):
        await store.append(space.stream("empty"), [], NO_STREAM)


async def test_expected_version_conflicts(store: EventStore, space: Space) -> None:
    s = space.stream("c")
    with pytest.raises(ConcurrencyError):
        await store.append(s, [ev()], 0)  # the stream does not exist yet
    await store.append(s, [ev(), ev()], NO_STREAM)
    with pytest.raises(ConcurrencyError):
        await store.append(s, [ev()], NO_STREAM)
    with pytest.raises(ConcurrencyError):
        await store.append(s, [ev()], 0)
    with pytest.raises(ConcurrencyError):
        await store.append(s, [ev()], 5)
    await store.append(s, [ev()], 1)
    await store.append(s, [ev()], None)  # any version
    assert [r.version for r in await store.read(s)] == [0, 1, 2, 3]


async def test_concurrent_appends_with_the_same_expected_version_one_wins(
    store: EventStore, space: Space
) -> None:
    s = space.stream("race")
    await store.append(s, [ev()], NO_STREAM)
    contenders = [[ev(who=i), ev(who=i)] for i in range(12)]
    results = await asyncio.gather(
        *(store.append(s, c, 0) for c in contenders), return_exceptions=True
    )
    winners = [i for i, r in enumerate(results) if isinstance(r, int)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConcurrencyError) for r in results if not isinstance(r, int))
    recs = await store.read(s)
    assert [r.id for r in recs[1:]] == [e.id for e in contenders[winners[0]]]


async def test_retrying_the_same_event_ids_is_idempotent(store: EventStore, space: Space) -> None:
    s = space.stream("retry")
    first = [ev(), ev()]
    pos = await store.append(s, first, NO_STREAM)
    assert await store.append(s, first, NO_STREAM) == pos  # the retry of a lost response
    second = [ev()]
    pos2 = await store.append(s, second, None)
    assert await store.append(s, second, None) == pos2
    await store.append(s, [ev()], 2)
    assert await store.append(s, first, NO_STREAM) == pos  # even after the stream moved on
    assert [r.version for r in await store.read(s)] == [0, 1, 2, 3]


# -- subscriptions ---------------------------------------------------------------------------------


async def test_subscribers_see_every_event_once_in_order(store: EventStore, space: Space) -> None:
    start = await store.head()
    for i in range(3):
        await store.append(space.stream(f"pre{i}"), [ev(), ev()], NO_STREAM)
    early = Follower(store, space, start)  # catches up on 6, then follows live
    await early.wait_for(6)

    async def writer(w: int) -> None:
        s = space.stream(f"w{w}")
        await store.append(s, [ev()], NO_STREAM)
        for v in range(9):
            await store.append(s, [ev(), ev()], v * 2)

    late: Follower | None = None
    tasks = [asyncio.create_task(writer(w)) for w in range(5)]
    await asyncio.sleep(0)
    late = Follower(store, space, start)  # starts mid-stream: catch-up and live overlap
    await asyncio.gather(*tasks)
    total = 6 + 5 * 19
    await early.wait_for(total)
    await late.wait_for(total)
    truth = await in_position_order(store, {r.stream for r in early.got})
    assert len(truth) == total
    for f in (early, late):
        assert [r.id for r in f.got] == [r.id for r in truth]
        assert [r.position for r in f.got] == [r.position for r in truth]
        await f.stop()


async def test_restart_from_a_checkpoint(store: EventStore, space: Space) -> None:
    start = await store.head()
    ids = []
    for i in range(4):
        e = ev()
        ids.append(e.id)
        await store.append(space.stream(f"r{i}"), [e], NO_STREAM)
    f = Follower(store, space, start)
    await f.wait_for(2)
    checkpoint = f.got[1].position
    await f.stop()
    for i in range(4, 7):
        e = ev()
        ids.append(e.id)
        await store.append(space.stream(f"r{i}"), [e], NO_STREAM)
    again = Follower(store, space, checkpoint)
    await again.wait_for(5)
    assert [r.id for r in again.got] == ids[2:]
    await asyncio.sleep(0.05)
    assert len(again.got) == 5  # nothing twice
    await again.stop()


async def test_any_position_works_as_a_starting_point(store: EventStore, space: Space) -> None:
    """``after_position`` need not be an event's own position (KurrentDB's are log offsets)."""
    first, second, third = ev(), ev(), ev()
    await store.append(space.stream("p"), [first], NO_STREAM)
    p2 = await store.append(space.stream("q"), [second], NO_STREAM)
    await store.append(space.stream("p"), [third], 0)
    f = Follower(store, space, p2 - 1)
    await f.wait_for(2)
    assert [r.id for r in f.got] == [second.id, third.id]
    await f.stop()


async def test_a_reopened_store_resumes_from_a_checkpoint(space: Space) -> None:
    first = space.open()
    start = await first.head()
    p1 = await first.append(space.stream("x"), [ev()], NO_STREAM)
    await first.close()
    second = space.open()
    try:
        e = ev()
        await second.append(space.stream("x"), [e], 0)
        f = Follower(second, space, p1)
        await f.wait_for(1)
        assert [r.id for r in f.got] == [e.id]
        await f.stop()
        assert await second.head() > start
    finally:
        await second.close()


async def test_live_subscribers_are_woken_by_appends_not_by_polling(tmp_path: Path) -> None:
    """SQLite: an append wakes live subscribers directly, in this process and in another one on
    the same file; with the fallback poll at an hour, every event still arrives. (How fast is a
    measurement: ``bench/event_store.py``'s subscription lag, not a threshold here.)"""
    path = tmp_path / "events.sqlite3"
    store = SqliteEventStore(path, fallback_poll=3600)
    other = SqliteEventStore(path, fallback_poll=3600)  # another process's store
    space = Space(lambda: store)
    try:
        f = Follower(store, space, await store.head())
        for i in range(10):
            await asyncio.sleep(0.01)  # let the subscriber go idle between appends
            await (store if i % 2 else other).append(space.stream(f"l{i}"), [ev()], NO_STREAM)
            await f.wait_for(i + 1)  # long before the hour's poll
        assert len(f.got) == 10
        await f.stop()
    finally:
        await other.close()
        await store.close()


# -- everything at random --------------------------------------------------------------------------

_actions = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 3), st.integers(1, 3)),
        st.tuples(st.just("burst"), st.integers(2, 5), st.just(1)),
        st.tuples(st.just("subscribe"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("restart"), st.integers(0, 20), st.just(0)),
        st.tuples(st.just("reopen"), st.just(0), st.just(0)),
        st.tuples(st.just("check"), st.just(0), st.just(0)),
    ),
    max_size=14,
)


def run_examples(backend: EventBackend, body: Callable[..., Coroutine[Any, Any, None]]) -> None:
    @settings(
        max_examples=backend.examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(actions=_actions)
    def examples(actions: list[tuple[str, int, int]]) -> None:
        asyncio.run(body(actions))

    examples()


_writers = st.lists(
    st.lists(
        st.tuples(st.sampled_from(["fresh", "stale", "any", "repeat"]), st.integers(1, 3)),
        min_size=1,
        max_size=5,
    ),
    min_size=2,
    max_size=4,
)


def test_concurrent_same_stream_appends_keep_exactly_the_acknowledged(
    backend: EventBackend,
) -> None:
    """Writers on two store instances append to one stream at once: with a freshly read
    version, a stale one, any version, or a repeat of their previous batch (same ids, same
    expected version). Exactly the acknowledged batches are in the stream, once each, whole and
    in order, right after the version they expected, at the positions their appends answered."""

    @settings(
        max_examples=backend.examples,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(writers=_writers)
    def examples(writers: list[list[tuple[str, int]]]) -> None:
        asyncio.run(body(writers))

    async def body(writers: list[list[tuple[str, int]]]) -> None:
        async with backend.space() as sp:
            stores = [sp.open(), sp.open()]
            s = sp.stream("same")
            acked: list[tuple[list[str], int, int | None]] = []

            async def writer(w: int, ops: list[tuple[str, int]]) -> None:
                store = stores[w % 2]
                known = NO_STREAM
                last: tuple[list[NewEvent], int | None] | None = None
                for kind, n in ops:
                    await asyncio.sleep(0)
                    expected: int | None
                    if kind == "repeat" and last is not None:
                        batch, expected = last
                    else:
                        batch = [ev(w=w) for _ in range(n)]
                        if kind == "fresh":
                            head = await store.last(s)
                            expected = NO_STREAM if head is None else head.version
                        else:
                            expected = known if kind == "stale" else None
                    last = (batch, expected)
                    try:
                        position = await store.append(s, batch, expected)
                    except ConcurrencyError:
                        continue
                    acked.append(([e.id for e in batch], position, expected))
                    known = max(known, (expected if expected is not None else known) + n)

            try:
                await asyncio.gather(*(writer(w, ops) for w, ops in enumerate(writers)))
                recs = await stores[0].read(s)
            finally:
                for st_ in stores:
                    await st_.close()
            ids = [r.id for r in recs]
            assert len(ids) == len(set(ids)), "an event was appended twice"
            assert set(ids) == {i for batch, _, _ in acked for i in batch}
            assert [r.version for r in recs] == list(range(len(recs)))
            for batch, position, expected in acked:
                at = ids.index(batch[0])
                assert ids[at : at + len(batch)] == batch  # whole, in order
                assert recs[at + len(batch) - 1].position == position
                if expected is not None:  # right after the version it expected, or refused
                    assert at == expected + 1, (at, expected)

    examples()


def test_random_appends_subscriptions_and_restarts(backend: EventBackend) -> None:
    async def body(actions: list[tuple[str, int, int]]) -> None:
        async with backend.space() as sp:
            await _scenario(sp, actions)

    run_examples(backend, body)


async def _scenario(sp: Space, actions: list[tuple[str, int, int]]) -> None:
    store = sp.open()
    versions: dict[str, int] = {}
    appended: list[str] = []
    marks: list[int] = [await store.head()]  # positions a subscriber may start from
    followers: list[Follower] = []

    async def append(stream: str, n: int) -> None:
        batch = [ev() for _ in range(n)]
        pos = await store.append(stream, batch, versions.get(stream, NO_STREAM))
        versions[stream] = versions.get(stream, NO_STREAM) + n
        appended.extend(e.id for e in batch)
        marks.append(pos)

    async def check() -> None:
        truth = await in_position_order(store, versions)
        assert sorted(r.id for r in truth) == sorted(appended)
        for f in followers:
            want = [r.id for r in truth if r.position > f.start]
            await f.wait_for(len(want))
            assert [r.id for r in f.got] == want, (
                actions,
                [(r.stream, r.position) for r in f.got],
                f.start,
                [(r.stream, r.position) for r in truth],
            )

    try:
        for kind, a, b in actions:
            if kind == "append":
                await append(sp.stream(f"s{a}"), b)
            elif kind == "burst":  # concurrent appenders on their own streams
                await asyncio.gather(
                    *(append(sp.stream(f"b{uuid.uuid4().hex}"), 1) for _ in range(a))
                )
            elif kind == "subscribe":
                followers.append(Follower(store, sp, marks[a % len(marks)]))
            elif kind == "restart" and followers:
                old = followers[a % len(followers)]
                await old.stop()
                new = Follower(store, sp, old.position)
                new.start, new.got = old.start, old.got  # one logical subscriber, resumed
                followers[a % len(followers)] = new
            elif kind == "reopen":
                for f in followers:
                    await f.stop()
                positions = [(f.start, f.position, f.got) for f in followers]
                await store.close()
                store = sp.open()
                followers = []
                for start, position, got in positions:
                    f = Follower(store, sp, position)
                    f.start, f.got = start, got
                    followers.append(f)
            elif kind == "check":
                await check()
        await check()
    except BaseException:
        for f in followers:  # the failure above is the one to report
            with contextlib.suppress(Exception):
                await f.stop()
        await store.close()
        raise
    for f in followers:  # a follower's own assertion (order, empty batch) fails the example
        await f.stop()
    await store.close()


# -- the hash chain --------------------------------------------------------------------------------


def _chained(recs: list[RecordedEvent]) -> ChainState:
    chain = ChainState()
    for r in recs:
        chain.check(r.stream, r.type, r.data, r.metadata)
    return chain


async def test_appends_are_hash_chained_across_writers(store: EventStore, space: Space) -> None:
    s = space.stream("chain")
    await store.append(s, [ev(n=1), ev(n=2)], NO_STREAM)
    await store.append(s, [ev(n=3)], 1)
    other = space.open()  # a second process appending to the same stream
    try:
        await other.append(s, [ev(n=4)], None)
        await other.append(s, [ev(n=5), ev(n=6)], 3)
    finally:
        await other.close()
    await store.append(s, [ev(n=7)], None)  # this writer's remembered head is stale now
    with pytest.raises(ConcurrencyError):
        await store.append(s, [ev(n=8)], 4)
    await store.append(s, [ev(n=9)], 6)
    recs = await store.read(s)
    assert [r.version for r in recs] == list(range(8))
    chain = _chained(recs)
    assert chain.checked == 8 and chain.unchained == 0
    found = unseal(recs[0].metadata)
    assert found is not None and found[0] == GENESIS
    # Any edit is caught at the edited event.
    edited = [*recs]
    edited[5] = msgspec.structs.replace(recs[5], data=recs[5].data.replace(b"6", b"7"))
    with pytest.raises(Exception, match="content"):
        _chained(edited)


async def test_concurrent_any_version_appends_keep_one_chain(
    store: EventStore, space: Space, backend: EventBackend
) -> None:
    if not backend.atomic_any_append:
        pytest.skip("any-version appends from two processes at once may fork the chain here")
    s = space.stream("race")
    other = space.open()
    try:
        await asyncio.gather(
            *[(store if i % 2 else other).append(s, [ev(n=i)], None) for i in range(20)]
        )
    finally:
        await other.close()
    recs = await store.read(s)
    assert len(recs) == 20 and _chained(recs).checked == 20
