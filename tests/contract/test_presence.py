"""The Presence port and the signal bus, run against every adapter.

Legs: ``LocalPresence`` / ``SignalBus`` (one process) and Redis (``RedisPresence`` /
``RedisSignals`` on the machine's Redis, 127.0.0.1:6379 unless ``IM_TEST_REDIS_URL`` says
otherwise; each test under its own key prefix, deleted afterwards). The ``shared`` tests run two
adapter instances over the same Redis, as two query processes would.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis

from domain.signals import Signal, SignalBus, StatusChanged, Typing
from queries.realtime.presence import LocalPresence, Presence
from queries.realtime.redis_presence import RedisPresence, RedisSignals
from tests.helpers import wait_until

REDIS_URL = os.environ.get("IM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


class Backend:
    def __init__(self, name: str) -> None:
        self.name = name
        self.prefix = f"imtest:{uuid.uuid4().hex[:10]}:"

    def presence(self, ttl: float = 120.0) -> Presence:
        if self.name == "local":
            return LocalPresence()
        return RedisPresence(REDIS_URL, self.prefix, ttl)

    def signals(self) -> SignalBus:
        if self.name == "local":
            return SignalBus()
        return RedisSignals(REDIS_URL, self.prefix)

    async def cleanup(self) -> None:
        if self.name == "local":
            return
        client = redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=self.prefix + "*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


@pytest.fixture(params=["local", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    b = Backend(request.param)
    yield b
    await b.cleanup()


@asynccontextmanager
async def opened(backend: Backend, ttl: float = 120.0) -> AsyncIterator[Presence]:
    p = backend.presence(ttl)
    try:
        yield p
    finally:
        await p.close()


async def test_first_and_last_connection(backend: Backend) -> None:
    async with opened(backend) as p:
        assert await p.statuses([1, 2]) == {1: False, 2: False}
        assert await p.last_seen(1) is None
        assert await p.connect(1, "a") is True
        assert await p.connect(1, "b") is False  # a second device
        assert await p.connect(2, "c") is True
        assert await p.statuses([1, 2, 3]) == {1: True, 2: True, 3: False}
        assert await p.online_users() == [1, 2]
        assert await p.connection_count() == 3
        assert await p.disconnect(1, "a") is False
        assert await p.disconnect(1, "a") is False  # twice: no effect
        assert await p.disconnect(1, "b") is True
        assert await p.statuses([1]) == {1: False}
        assert await p.online_users() == [2]
        assert await p.connection_count() == 1
        seen = await p.last_seen(1)
        assert seen is not None and seen > 0
        await p.touch(2, "c")
        assert await p.sweep() == []


async def test_concurrent_connections_announce_once(backend: Backend) -> None:
    async with opened(backend) as p:
        firsts = await asyncio.gather(*(p.connect(7, f"c{i}") for i in range(20)))
        assert sum(firsts) == 1
        lasts = await asyncio.gather(*(p.disconnect(7, f"c{i}") for i in range(20)))
        assert sum(lasts) == 1
        assert await p.statuses([7]) == {7: False}


async def test_signals_reach_the_listeners(backend: Backend) -> None:
    bus = backend.signals()
    got: list[Signal] = []
    bus.subscribe(got.append)
    await bus.start()
    try:
        sent: list[Signal] = [Typing(1, 2, True, (3, 4)), StatusChanged(user_id=2, is_online=False)]
        for s in sent:
            bus.publish(s)
        await wait_until(_has(got, 2), timeout=5)
        assert got == sent
    finally:
        await bus.stop()


def _has(items: list[Signal], n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(items) >= n

    return check


# -- shared between processes (Redis only) ---------------------------------------------------


@pytest.fixture
def shared(backend: Backend) -> Backend:
    if backend.name == "local":
        pytest.skip("LocalPresence serves one process")
    return backend


async def test_two_processes_share_presence(shared: Backend) -> None:
    async with opened(shared) as one, opened(shared) as two:
        assert await one.connect(5, "p1-a") is True
        assert await two.connect(5, "p2-a") is False  # online already, via the other process
        assert await two.statuses([5]) == {5: True}
        assert await two.online_users() == [5]
        assert await one.disconnect(5, "p1-a") is False
        assert await two.disconnect(5, "p2-a") is True
        assert await one.statuses([5]) == {5: False}


async def test_a_dead_process_connections_expire(shared: Backend) -> None:
    async with opened(shared, ttl=1) as dying, opened(shared) as alive:
        assert await dying.connect(9, "dead-1") is True
        assert await alive.statuses([9]) == {9: True}
        await asyncio.sleep(1.3)  # the TTL (1 s) passes without a touch: the process is gone
        assert await alive.statuses([9]) == {9: False}
        assert await alive.sweep() == [9]  # announced offline once, by one sweeper
        assert await alive.sweep() == []
        assert await alive.online_users() == []
        assert await alive.connect(9, "new") is True


async def test_touch_keeps_a_connection_alive(shared: Backend) -> None:
    async with opened(shared, ttl=1) as p:
        await p.connect(4, "t")
        for _ in range(4):
            await asyncio.sleep(0.4)
            await p.touch(4, "t")
        assert await p.statuses([4]) == {4: True}


async def test_signals_cross_processes(shared: Backend) -> None:
    one, two = shared.signals(), shared.signals()
    got_one: list[Signal] = []
    got_two: list[Signal] = []
    one.subscribe(got_one.append)
    two.subscribe(got_two.append)
    await one.start()
    await two.start()
    try:
        one.publish(Typing(10, 11, True, (12,)))
        await wait_until(_has(got_two, 1), timeout=5)
        await wait_until(_has(got_one, 1), timeout=5)  # the publisher hears itself too
        assert got_two == got_one == [Typing(10, 11, True, (12,))]
    finally:
        await one.stop()
        await two.stop()
