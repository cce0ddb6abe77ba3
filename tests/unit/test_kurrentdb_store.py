"""KurrentDbEventStore specifics the contract suite cannot reach: laziness and failure paths."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kurrentdbclient.exceptions import ServiceUnavailableError

from commands.event_store.kurrentdb import KurrentDbEventStore
from domain.errors import UnavailableError
from domain.store import NO_STREAM, NewEvent
from tests.contract.fake_kurrentdb import FakeKurrentDB, FakeSubscription, install


def _event() -> NewEvent:
    return NewEvent(id=str(uuid.uuid4()), type="test.Thing", data=b"{}", metadata=b"")


async def test_nothing_connects_before_first_use() -> None:
    store = KurrentDbEventStore("kurrentdb://127.0.0.1:1?tls=false")  # nothing listens there
    assert store._client is None  # constructing connects nothing
    await store.close()  # closing a store that never connected neither connects nor fails
    assert store._client is None


async def test_an_unreachable_server_is_unavailable_not_a_crash() -> None:
    server = FakeKurrentDB()
    store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
    install(store, server)

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise ServiceUnavailableError("connection refused")

    store._client.append_to_stream = down  # type: ignore[union-attr, method-assign]
    store._client.get_stream = down  # type: ignore[union-attr, method-assign]
    with pytest.raises(UnavailableError):
        await store.append("thing-1", [_event()], NO_STREAM)
    with pytest.raises(UnavailableError):
        await store.read("thing-1")


async def test_a_broken_subscription_delivers_what_it_had_then_raises() -> None:
    server = FakeKurrentDB()
    store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
    install(store, server)
    first = _event()
    await store.append("thing-1", [first], NO_STREAM)
    original = FakeSubscription.__anext__
    calls = 0

    async def flaky(self: FakeSubscription) -> Any:
        nonlocal calls
        calls += 1
        if calls > 1:
            raise ConnectionResetError("stream reset")
        return await original(self)

    FakeSubscription.__anext__ = flaky  # type: ignore[method-assign]
    try:
        received: list[str] = []

        async def drain() -> None:
            async for batch in store.subscribe(0):
                received.extend(r.id for r in batch)

        with pytest.raises(ConnectionResetError):
            await drain()
        assert received == [first.id]
    finally:
        FakeSubscription.__anext__ = original  # type: ignore[method-assign]
    await store.close()


async def test_a_retry_answered_without_a_position_still_returns_the_original() -> None:
    server = FakeKurrentDB(positionless_retries=True)
    store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
    install(store, server)
    first = [_event(), _event()]
    pos = await store.append("thing-1", first, NO_STREAM)
    assert await store.append("thing-1", first, NO_STREAM) == pos
    second = [_event()]
    pos2 = await store.append("thing-1", second, None)
    assert await store.append("thing-1", second, None) == pos2
    await store.append("thing-1", [_event()], 2)
    assert await store.append("thing-1", first, NO_STREAM) == pos
    assert [r.version for r in await store.read("thing-1")] == [0, 1, 2, 3]


async def test_a_positionless_retry_after_later_appends_returns_its_own_position() -> None:
    server = FakeKurrentDB(positionless_retries=True)
    store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
    install(store, server)
    await store.append("thing-1", [_event()], NO_STREAM)
    mine = [_event()]
    pos = await store.append("thing-1", mine, 0)
    await store.append("thing-1", [_event()], 1)  # the stream and the log moved on since
    await store.append("thing-2", [_event()], NO_STREAM)
    assert await store.append("thing-1", mine, 0) == pos  # read back from the stream, not head
    assert await store.head() > pos
    await store.close()
