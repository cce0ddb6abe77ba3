"""The ``?since=`` horizon counts events, not positions, over KurrentDB's sparse positions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import pytest

from commands.event_store.kurrentdb import KurrentDbEventStore
from domain.signals import SignalBus
from domain.store import NO_STREAM, RecordedEvent
from gateway.realtime.connection import CLOSE_RESYNC, Connection, Limits
from gateway.realtime.service import Realtime, Refused
from queries.realtime.presence import LocalPresence
from tests.contract.fake_kurrentdb import FakeKurrentDB, install
from tests.contract.test_event_store import ev
from tests.helpers import wait_until
from tests.unit.test_realtime_connection import FakeSocket


class NoViews:
    def observe(self, batch: Sequence[RecordedEvent]) -> None:
        return None

    async def sent_messages(
        self, items: Any, wait: Callable[[], Awaitable[None]]
    ) -> dict[int, Any]:
        return {}

    async def messages(self, message_ids: Sequence[int]) -> dict[int, Any]:
        return {}

    async def conversations(self, conversation_id: int, viewers: Sequence[int]) -> dict[int, Any]:
        return {}

    async def newly_read(self, event: Any, cap: int) -> list[int]:
        return []


async def _ready(_: int) -> bool:
    return True


async def _no_members() -> tuple[Iterable[tuple[int, int]], int]:
    return [], 0


@pytest.fixture
async def realtime() -> AsyncIterator[tuple[Realtime, list[int]]]:
    store = KurrentDbEventStore("kurrentdb://fake:2113?tls=false")
    install(store, FakeKurrentDB())
    positions = [await store.append(f"thing-{i}", [ev(n=i)], NO_STREAM) for i in range(40)]
    rt = Realtime(
        events=store,
        views=NoViews(),
        presence=LocalPresence(),
        signals=SignalBus(),
        wait_for=_ready,
        membership=_no_members,
        resume_max_events=10,
        typing_timeout=5,
    )
    await rt.start()
    await wait_until(lambda: _at(rt, positions[-1]))
    try:
        yield rt, positions
    finally:
        await rt.stop()
        await store.close()


async def _at(rt: Realtime, position: int) -> bool:
    return rt.pusher.position >= position


def _conn() -> Connection:
    return Connection(FakeSocket(), 7, Limits(), None)  # type: ignore[arg-type]


async def test_since_within_the_horizon_resumes(realtime: tuple[Realtime, list[int]]) -> None:
    rt, positions = realtime
    since = positions[-11]  # 10 events back, the positions thousands apart
    assert positions[-1] - since > 1000
    attached = await rt.attach(_conn(), since)
    assert attached.position == positions[-1]


async def test_since_beyond_the_horizon_is_refused(realtime: tuple[Realtime, list[int]]) -> None:
    rt, positions = realtime
    with pytest.raises(Refused) as refused:
        await rt.attach(_conn(), positions[-12])  # 11 events back
    assert refused.value.code == CLOSE_RESYNC


async def test_without_since_live_from_the_head(realtime: tuple[Realtime, list[int]]) -> None:
    """A socket without ``since`` is live from the store's head, even when the pusher lags:
    nothing committed before it connected arrives as live."""
    rt, positions = realtime
    await rt.pusher_runtime.stop()  # the pusher lags behind what is committed
    newer = await rt._events.append("thing-new", [ev(n=99)], NO_STREAM)
    conn = _conn()
    attached = await rt.attach(conn, None)
    assert rt.pusher.position == positions[-1] < newer
    assert attached.position == newer
    assert conn.seam == newer
