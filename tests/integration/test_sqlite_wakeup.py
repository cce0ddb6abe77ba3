"""The SQLite split: another process's append wakes a subscriber at once (not by polling)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from commands.event_store.sqlite import SqliteEventStore
from tests.contract.test_event_store import ev

_APPEND = """
import asyncio, sys, uuid
from commands.event_store.sqlite import SqliteEventStore
from domain.store import NewEvent

async def main() -> None:
    store = SqliteEventStore(sys.argv[1])
    event = NewEvent(id=str(uuid.uuid4()), type="test.Thing", data=b"{}", metadata=b"{}")
    await store.append(sys.argv[2], [event], None)
    await store.close()

asyncio.run(main())
"""


async def _next_batch(store: SqliteEventStore, after: int) -> list[str]:
    async for batch in store.subscribe(after):
        return [r.stream for r in batch]
    raise AssertionError("the subscription ended")


async def test_another_process_append_wakes_the_subscriber(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    # With a one-minute fallback poll, only the wake-up can deliver within the deadline.
    store = SqliteEventStore(path, fallback_poll=60.0)
    await store.append("warm-1", [ev()], None)
    head = await store.head()
    try:
        got = asyncio.create_task(_next_batch(store, head))
        await asyncio.sleep(0.2)  # the subscriber is idle, waiting
        assert not got.done()
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", _APPEND, str(path), "other-1"], check=True
        )
        assert await asyncio.wait_for(got, 10) == ["other-1"]
    finally:
        await store.close()


async def test_a_dead_listener_is_forgotten(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    gone = SqliteEventStore(path)
    head = await gone.head()
    sub = asyncio.create_task(_next_batch(gone, head))
    await asyncio.sleep(0.05)
    sub.cancel()
    folder = Path(str(path) + ".wake")
    names = os.listdir(folder)
    assert len(names) == 1
    gone._wakeups._listener.close()  # type: ignore[union-attr]  # as if the process died
    writer = SqliteEventStore(path)
    try:
        await writer.append("x-1", [ev()], None)
        assert os.listdir(folder) == []  # the refused name was removed
    finally:
        await writer.close()
        await gone.close()
