"""The EventLog contract (the auditors' view of the event store), run against every adapter:
SQLite; ``KurrentDbEventLog`` over the in-memory fake client; a real KurrentDB when
``IM_TEST_KURRENTDB_URL`` is set. Events go in through the store's own append path (sealed and
attributed), come out through the log, and a raw import into an empty store keeps them exactly."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest

from commands.event_store.kurrentdb import KurrentDbEventStore
from commands.event_store.kurrentdb_log import KurrentDbEventLog
from commands.event_store.sqlite import SqliteEventStore
from commands.event_store.sqlite_log import SqliteEventLog
from domain import tracing
from domain.audit import EventLog, Scan
from domain.codec import parse_metadata
from domain.store import NO_STREAM, EventStore, NewEvent
from queries.audit import verify
from tests.contract.fake_kurrentdb import FakeKurrentDB, install

Pair = tuple[EventStore, EventLog]


class Legs:
    """Opens (store, log) pairs on one backend. ``empty``: each pair starts on an empty store
    (a real server is shared, so there every test works in its own streams and filters)."""

    def __init__(self, fresh: Callable[[], Pair], empty: bool) -> None:
        self.fresh = fresh
        self.empty = empty
        self.p = "" if empty else "t" + uuid.uuid4().hex[:8]

    def __call__(self) -> Pair:
        return self.fresh()

    def s(self, name: str) -> str:
        return f"{self.p}{name}"

    def ours(self, recs: list[Any]) -> list[Any]:
        return [r for r in recs if r.stream.startswith(self.p)]


@asynccontextmanager
async def _sqlite() -> AsyncIterator[Callable[[], Pair]]:
    with tempfile.TemporaryDirectory(prefix="im-log-") as folder:
        n = [0]

        def fresh() -> Pair:
            n[0] += 1
            path = Path(folder) / f"events{n[0]}.sqlite3"
            return SqliteEventStore(path), SqliteEventLog(path)

        yield fresh


@asynccontextmanager
async def _fake() -> AsyncIterator[Callable[[], Pair]]:
    def fresh() -> Pair:
        server = FakeKurrentDB()
        store, log = KurrentDbEventStore("kurrentdb://fake:2113"), KurrentDbEventLog("x")
        install(store, server)
        install(log, server)
        return store, log

    yield fresh


@pytest.fixture(params=["sqlite", "kurrentdb-fake", "kurrentdb"])
async def pairs(request: pytest.FixtureRequest) -> AsyncIterator[Legs]:
    if request.param == "sqlite":
        async with _sqlite() as fresh:
            yield Legs(fresh, empty=True)
    elif request.param == "kurrentdb-fake":
        async with _fake() as fresh:
            yield Legs(fresh, empty=True)
    else:
        url = os.environ.get("IM_TEST_KURRENTDB_URL")
        if not url:
            pytest.skip("IM_TEST_KURRENTDB_URL is not set: the KurrentDB leg needs a server")

        def real() -> Pair:
            return KurrentDbEventStore(url), KurrentDbEventLog(url)

        yield Legs(real, empty=False)


def ev(kind: str = "Thing", **data: Any) -> NewEvent:
    from domain.store import event_id

    return NewEvent(
        id=str(uuid.UUID(event_id())),
        type=f"test.{kind}",
        data=msgspec.json.encode(data or {"n": 1}),
        metadata=b'{"schema_version":1}',
    )


def traced(actor: int, correlation: str) -> Any:
    return tracing.traced(tracing.Trace(correlation, tracing.Actor("user", actor)))


async def _appended(store: EventStore, legs: Legs) -> None:
    await store.append(legs.s("chat-1"), [ev(n=1), ev("Other", n=2)], NO_STREAM)
    await store.append(legs.s("chat-2"), [ev(n=3)], NO_STREAM)
    await store.append(legs.s("chat-1"), [ev(n=4)], 1)
    await store.append(legs.s("user-9"), [ev("Other", n=5), ev(n=6)], NO_STREAM)


async def test_streams_pages_and_scans(pairs: Legs) -> None:
    store, log = pairs()
    s = pairs.s
    try:
        start = await log.head() if not pairs.empty else 0
        await _appended(store, pairs)
        everything, more = await log.scan(Scan(after_position=start), 10_000)
        everything = pairs.ours(everything)
        assert len(everything) == 6
        assert [r.position for r in everything] == sorted(r.position for r in everything)
        infos = await log.streams(None, pairs.p or None, 0, 100)
        found = [(i.stream, i.version) for i in infos]
        assert found == [(s("chat-1"), 2), (s("chat-2"), 0), (s("user-9"), 1)]
        chat1 = [r for r in everything if r.stream == s("chat-1")]
        assert infos[0].first_position == chat1[0].position
        assert infos[0].last_position == chat1[-1].position
        chats = await log.streams(None, s("chat"), 0, 100)
        assert [i.stream for i in chats] == [s("chat-1"), s("chat-2")]
        assert [i.stream for i in await log.streams(None, s("chat-2"), 0, 100)] == [s("chat-2")]
        assert [i.stream for i in await log.streams(None, s(""), 1, 1)] == [s("chat-2")]
        if pairs.empty:
            assert [i.stream for i in await log.streams("chat", None, 0, 100)] == [
                "chat-1",
                "chat-2",
            ]
        page = await log.stream_page(s("chat-1"), 1, 1)
        assert [r.version for r in page] == [1]
        assert await log.stream_page(s("nope-1"), 0, 10) == []
        until = chat1[1].position
        assert [r.version for r in await log.stream_page(s("chat-1"), 0, 10, until)] == [0, 1]
        last = await log.last_before(s("chat-1"), until)
        assert last is not None and last.version == 1
        assert await log.last_before(s("chat-1"), chat1[0].position - 1) is None
        # Pages by position, and filters.
        first, more = await log.scan(Scan(after_position=start), 2)
        assert more == first[-1].position
        rest, _ = await log.scan(Scan(after_position=more), 10_000)
        assert pairs.ours(first + rest) == everything
        typed, _ = await log.scan(Scan(after_position=start, types=("test.Other",)), 10_000)
        assert [r.type for r in pairs.ours(typed)] == ["test.Other", "test.Other"]
        cat, _ = await log.scan(Scan(after_position=start, category=s("user")), 10_000)
        assert {r.stream for r in cat} == {s("user-9")}
        upto, _ = await log.scan(
            Scan(after_position=start, until_position=everything[2].position), 10_000
        )
        assert pairs.ours(upto) == everything[:3]
        assert await log.head() >= everything[-1].position
        assert not await log.is_empty()
        assert await log.position_at(everything[-1].recorded_at + 1) >= everything[-1].position
    finally:
        await store.close()
        await log.close()


async def test_actor_and_correlation_filters(pairs: Legs) -> None:
    from domain.store import new_event
    from domain.users import UserRenamed

    store, log = pairs()
    try:
        actor = 10**9 + int(uuid.uuid4().int % 10**6)  # unique on a shared server
        a, b = f"req-{uuid.uuid4().hex}", f"req-{uuid.uuid4().hex}"
        with traced(actor, a):
            await store.append(
                pairs.s("user-7"), [new_event(UserRenamed(user_id=7, name="a"))], None
            )
        with traced(actor + 1, b):
            await store.append(
                pairs.s("user-8"), [new_event(UserRenamed(user_id=8, name="b"))], None
            )
        by_actor, _ = await log.scan(Scan(actor_id=str(actor)), 10)
        assert [r.stream for r in by_actor] == [pairs.s("user-7")]
        by_corr, _ = await log.scan(Scan(correlation_id=b), 10)
        assert [r.stream for r in by_corr] == [pairs.s("user-8")]
        meta = parse_metadata(by_corr[0].metadata)
        assert meta.correlation_id == b and meta.actor == tracing.Actor("user", actor + 1)
    finally:
        await store.close()
        await log.close()


async def test_import_keeps_every_event_exactly(pairs: Legs) -> None:
    if not pairs.empty:
        pytest.skip("an import needs an empty store; the real server is shared")
    store, log = pairs()
    target_store, target = pairs()
    try:
        await _appended(store, pairs)
        everything, _ = await log.scan(Scan(), 100)
        assert await target.is_empty()
        await target.import_events(everything)
        copied, _ = await target.scan(Scan(), 100)
        strip = [(r.id, r.stream, r.version, r.type, r.data, r.metadata) for r in everything]
        assert [(r.id, r.stream, r.version, r.type, r.data, r.metadata) for r in copied] == strip
        assert (await verify(target)).ok and (await verify(log)).ok
        # Appends continue the imported chains.
        await target_store.append("chat-1", [ev(n=7)], 2)
        result = await verify(target)
        assert result.ok and result.checked == 7
    finally:
        for s in (store, target_store):
            await s.close()
        for lg in (log, target):
            await lg.close()
