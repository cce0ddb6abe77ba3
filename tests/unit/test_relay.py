"""The relay's rules with a fake broker: order, checkpoint only after confirms, retry, formats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import msgspec
import pytest

from commands.event_store.sqlite import SqliteEventStore
from domain import users as u
from domain.cascade import (
    MAPPING,
    EnvelopeFormatter,
    Formatter,
    OutgoingMessage,
    Rule,
    snake_case,
)
from domain.events import Event
from domain.store import NO_STREAM, RecordedEvent, new_event
from projections.cascade.relay import Relay, RelayStatus
from projections.follower import FollowerRuntime
from tests.helpers import wait_until


class FakePublisher:
    """Confirms at once, or fails the next ``fail`` publishes, or holds confirms while ``hold``."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []
        self.fail = 0
        self.hold = False
        self.held: list[asyncio.Future[int]] = []

    @property
    def connected(self) -> bool:
        return True

    async def ready(self) -> None:
        return None

    def publish(self, messages: Sequence[OutgoingMessage]) -> asyncio.Future[int]:
        self.sent.extend(messages)
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self.fail:
            self.fail -= 1
            fut.set_exception(ConnectionError("connection dropped"))
        elif self.hold:
            self.held.append(fut)
        else:
            fut.set_result(0)
        return fut

    def release(self) -> None:
        self.hold = False
        for fut in self.held:
            if not fut.done():
                fut.set_result(0)

    async def close(self) -> None:
        return None


class MemoryCheckpoint:
    """Records saves that go backwards instead of asserting inside ``save``: the relay catches
    what ``save`` raises (and retries), so an assertion there could never fail a test. The
    autouse fixture below checks every instance after each test."""

    made: list[MemoryCheckpoint] = []

    def __init__(self) -> None:
        self.saved = 0
        self.went_back: list[tuple[int, int]] = []
        MemoryCheckpoint.made.append(self)

    async def load(self) -> int:
        return self.saved

    async def save(self, position: int) -> None:
        if position < self.saved:
            self.went_back.append((self.saved, position))
        self.saved = position

    async def rewind(self, position: int) -> None:
        self.saved = position


@pytest.fixture(autouse=True)
def checkpoints_never_go_back() -> Iterator[None]:
    MemoryCheckpoint.made.clear()
    yield
    for cp in MemoryCheckpoint.made:
        assert cp.went_back == [], f"a checkpoint went back (from, to): {cp.went_back}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteEventStore]:
    s = SqliteEventStore(tmp_path / "events.sqlite3")
    yield s
    await s.close()


async def fill(store: SqliteEventStore, users: int, per_user: int) -> list[RecordedEvent]:
    for i in range(per_user):
        for uid in range(1, users + 1):
            ev = u.UserRenamed(user_id=uid, name=f"n{i}", at=1.0 + i)
            await store.append(u.user_stream(uid), [new_event(ev)], i - 1 if i else NO_STREAM)
    return await store.read_all(0, 1_000_000)


class Running:
    """A relay driven by the follower runtime, as the composition root runs it."""

    def __init__(
        self,
        store: SqliteEventStore,
        pub: FakePublisher,
        cp: MemoryCheckpoint,
        fmt: Formatter | None = None,
    ) -> None:
        fmt = fmt or EnvelopeFormatter()
        self.relay = Relay(cp, pub, MAPPING, fmt, save_interval=0.01)
        self.runtime = FollowerRuntime(
            store, self.relay, backoff=(0.01, 0.05), jitter=True, log_tracebacks=False
        )

    @property
    def position(self) -> int:
        return self.relay.position

    def status(self) -> RelayStatus:
        return self.relay.status(self.runtime.status())

    async def start(self) -> None:
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()
        await self.relay.close()


def relay_for(store: SqliteEventStore, pub: FakePublisher, cp: MemoryCheckpoint) -> Running:
    return Running(store, pub, cp)


def assert_complete_and_ordered(sent: list[OutgoingMessage], events: list[RecordedEvent]) -> None:
    first: dict[str, OutgoingMessage] = {}
    for m in sent:
        if m.message_id in first:
            assert first[m.message_id] == m  # a duplicate is the very same message
        first.setdefault(m.message_id, m)
    assert set(first) == {e.id for e in events}
    # Per aggregate, the first arrivals follow the stream's order.
    seen: dict[str, int] = {}
    for m in first.values():
        body = json.loads(m.body)
        assert body["stream_version"] == seen.get(body["stream"], -1) + 1
        seen[body["stream"]] = body["stream_version"]


async def test_publishes_everything_in_order_and_saves_after_confirms(
    store: SqliteEventStore,
) -> None:
    events = await fill(store, users=7, per_user=300)
    pub, cp = FakePublisher(), MemoryCheckpoint()
    relay = relay_for(store, pub, cp)
    await relay.start()
    try:
        await wait_until(lambda: _at(cp, events[-1].position))
        assert [m.message_id for m in pub.sent] == [e.id for e in events]
        assert relay.status().published == len(events)
    finally:
        await relay.stop()


async def _true(value: bool) -> bool:
    return value


async def _at(cp: MemoryCheckpoint, position: int) -> bool:
    return cp.saved >= position


async def test_checkpoint_never_passes_an_unconfirmed_event(store: SqliteEventStore) -> None:
    events = await fill(store, users=3, per_user=10)
    pub, cp = FakePublisher(), MemoryCheckpoint()
    pub.hold = True
    relay = relay_for(store, pub, cp)
    await relay.start()
    try:
        await wait_until(lambda: _true(len(pub.sent) == len(events)))
        await asyncio.sleep(0.1)  # give a wrong implementation time to save
        assert cp.saved == 0 and relay.position == 0
        pub.release()
        await wait_until(lambda: _at(cp, events[-1].position))
    finally:
        await relay.stop()


async def test_failed_confirm_resends_from_the_last_confirmed_event(
    store: SqliteEventStore,
) -> None:
    events = await fill(store, users=5, per_user=500)  # 2,500 events: three batches
    pub, cp = FakePublisher(), MemoryCheckpoint()
    relay = relay_for(store, pub, cp)
    pub.fail = 0
    original = pub.publish
    calls = 0

    def flaky(messages: Sequence[OutgoingMessage]) -> asyncio.Future[int]:
        nonlocal calls
        calls += 1
        if calls == 2:
            pub.fail = 1
        return original(messages)

    pub.publish = flaky  # type: ignore[method-assign]
    await relay.start()
    try:
        await wait_until(lambda: _at(cp, events[-1].position))
        assert len(pub.sent) > len(events)  # the failed batch (at least) went out twice
        assert_complete_and_ordered(pub.sent, events)
        assert relay.status().failures == 1
        assert relay.status().error is None  # cleared by the next confirm
    finally:
        await relay.stop()


async def test_restart_resumes_from_the_saved_checkpoint(store: SqliteEventStore) -> None:
    events = await fill(store, users=2, per_user=50)
    pub, cp = FakePublisher(), MemoryCheckpoint()
    relay = relay_for(store, pub, cp)
    await relay.start()
    await wait_until(lambda: _at(cp, events[-1].position))
    await relay.stop()
    more = await fill_more(store)
    again = FakePublisher()
    relay = relay_for(store, again, cp)
    await relay.start()
    try:
        await wait_until(lambda: _at(cp, more[-1].position))
        assert [m.message_id for m in again.sent] == [e.id for e in more]
    finally:
        await relay.stop()


async def fill_more(store: SqliteEventStore) -> list[RecordedEvent]:
    head = await store.head()
    ev = u.UserRenamed(user_id=99, name="late", at=2.0)
    await store.append(u.user_stream(99), [new_event(ev)], NO_STREAM)
    return await store.read_all(head, 100)


class CmdFormatter:
    """A partner's ``{cmd, data}`` protocol, added without touching the relay."""

    name = "cmd"
    version = 1

    def format(self, rec: RecordedEvent, event: Event, rule: Rule) -> OutgoingMessage:
        data = {k: v for k, v in msgspec.to_builtins(event).items() if k != "type"}
        body = msgspec.json.encode({"cmd": snake_case(rule.name), "data": data})
        return OutgoingMessage(
            message_id=rec.id,
            type=rule.name,
            routing_key=f"legacy.{snake_case(rule.name)}",
            body=body,
            timestamp=rec.recorded_at,
            position=rec.position,
        )


async def test_another_formatter_plugs_in(store: SqliteEventStore) -> None:
    events = await fill(store, users=1, per_user=3)
    pub, cp = FakePublisher(), MemoryCheckpoint()
    relay = Running(store, pub, cp, CmdFormatter())
    await relay.start()
    try:
        await wait_until(lambda: _at(cp, events[-1].position))
        assert json.loads(pub.sent[0].body) == {
            "cmd": "user_renamed",
            "data": {"user_id": 1, "name": "n0", "at": 1.0, "standard_id": ""},
        }
        assert pub.sent[0].routing_key == "legacy.user_renamed"
    finally:
        await relay.stop()


async def test_a_checkpoint_beyond_the_head_is_moved_back_to_it(store: SqliteEventStore) -> None:
    # The log lost its tail (power cut, older copy restored): the positions after the head
    # will be given to new events, which must still be published.
    events = await fill(store, users=2, per_user=3)
    pub, cp = FakePublisher(), MemoryCheckpoint()
    cp.saved = events[-1].position + 50
    relay = relay_for(store, pub, cp)
    await relay.start()
    try:
        assert cp.saved == events[-1].position
        ev = u.UserRenamed(user_id=9, name="after", at=9.0)
        pos = await store.append(u.user_stream(9), [new_event(ev)], NO_STREAM)
        await wait_until(lambda: _at(cp, pos))
        assert [json.loads(m.body)["position"] for m in pub.sent] == [pos]
    finally:
        await relay.stop()
