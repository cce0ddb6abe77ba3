"""The follower runtime: subscribe from the follower's position, retry with backoff, settle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from commands.event_store.sqlite import SqliteEventStore
from domain import users as u
from domain.store import NO_STREAM, RecordedEvent, new_event
from projections.follower import FollowerRuntime, Pipelined
from tests.helpers import wait_until


class Recorder:
    """Records what it is handed; fails the batch that contains ``fail_at`` ``failures`` times."""

    name = "recorder"

    def __init__(self, start: int = 0, fail_at: int = -1, failures: int = 0) -> None:
        self.position = start
        self.seen: list[int] = []
        self.fail_at = fail_at
        self.failures = failures
        self.resumed = 0
        self.settled = 0

    async def start_at(self) -> int:
        return self.position

    async def resume(self) -> None:
        self.resumed += 1

    async def handle(self, batch: Sequence[RecordedEvent]) -> None:
        if self.failures and any(r.position == self.fail_at for r in batch):
            self.failures -= 1
            raise ConnectionError("backend hiccup")
        self.seen.extend(r.position for r in batch)
        self.position = batch[-1].position

    async def settle(self) -> None:
        self.settled += 1


class Watched(Recorder):
    """A pipelined follower whose ``watch`` fails once, while the log is idle."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0
        self.watch_failed = asyncio.Event()

    async def prepare_session(self) -> None:
        self.sessions += 1

    async def watch(self) -> None:
        if self.sessions == 1:
            await asyncio.sleep(0.05)
            self.watch_failed.set()
            raise TimeoutError("no confirmation")
        await asyncio.Event().wait()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteEventStore]:
    s = SqliteEventStore(tmp_path / "events.sqlite3")
    yield s
    await s.close()


async def append(store: SqliteEventStore, n: int) -> int:
    """``n`` events, each on a new stream; returns the last position."""
    position = head = await store.head()
    for i in range(head + 1, head + n + 1):
        ev = u.UserRenamed(user_id=i, name=f"n{i}", at=1.0)
        position = await store.append(u.user_stream(i), [new_event(ev)], NO_STREAM)
    return position


async def test_follows_from_the_start_position_in_order(store: SqliteEventStore) -> None:
    await append(store, 10)
    follower = Recorder(start=4)
    runtime = FollowerRuntime(store, follower)
    await runtime.start()
    try:
        await wait_until(lambda: _true(follower.position == 10))
        head = await append(store, 5)
        await wait_until(lambda: _true(follower.position == head))
        assert follower.seen == list(range(5, 16))
        status = runtime.status()
        assert (status.name, status.position, status.failures, status.error) == (
            "recorder",
            15,
            0,
            None,
        )
        assert status.running
    finally:
        await runtime.stop()
    assert follower.settled == 1
    assert not runtime.status().running


async def test_a_failure_backs_off_and_resubscribes_from_the_position(
    store: SqliteEventStore,
) -> None:
    await append(store, 3)
    follower = Recorder(fail_at=4, failures=3)
    runtime = FollowerRuntime(store, follower, backoff=(0.01, 0.02))
    await runtime.start()
    try:
        await wait_until(lambda: _true(follower.position == 3))
        await append(store, 2)
        await wait_until(lambda: _true(runtime.failures == 3))
        await wait_until(lambda: _true(follower.position == 5))
        assert follower.seen == [1, 2, 3, 4, 5]  # nothing skipped, nothing handled twice
        assert follower.resumed == 3 and follower.settled == 3
        assert runtime.error is None  # cleared once the follower got past the failure
    finally:
        await runtime.stop()


async def test_the_error_is_reported_until_the_follower_gets_past_it(
    store: SqliteEventStore,
) -> None:
    await append(store, 2)
    follower = Recorder(fail_at=2, failures=1_000)
    runtime = FollowerRuntime(store, follower, backoff=(0.01, 0.02), log_tracebacks=False)
    await runtime.start()
    try:
        await wait_until(lambda: _true(runtime.failures >= 2))
        assert runtime.status().error == "ConnectionError: backend hiccup"
        assert follower.position == 0
        follower.failures = 0
        await wait_until(lambda: _true(follower.position == 2))
        assert runtime.status().error is None
    finally:
        await runtime.stop()


async def test_a_pipelined_watch_failure_ends_an_idle_session(store: SqliteEventStore) -> None:
    follower = Watched()
    assert isinstance(follower, Pipelined)
    assert not isinstance(Recorder(), Pipelined)
    runtime = FollowerRuntime(store, follower, backoff=(0.01, 0.02))
    await runtime.start()
    try:
        await asyncio.wait_for(follower.watch_failed.wait(), 5)
        await wait_until(lambda: _true(follower.sessions == 2))
        assert runtime.failures == 1 and follower.settled == 1
        head = await append(store, 2)  # the new session follows on
        await wait_until(lambda: _true(follower.position == head))
    finally:
        await runtime.stop()


async def test_a_start_position_that_cannot_load_fails_start(store: SqliteEventStore) -> None:
    class Broken(Recorder):
        async def start_at(self) -> int:
            raise OSError("read store unreachable")

    runtime = FollowerRuntime(store, Broken())
    with pytest.raises(OSError, match="unreachable"):
        await runtime.start()
    assert not runtime.running


async def _true(value: bool) -> bool:
    return value
