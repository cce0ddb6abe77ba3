"""SQLite event store: appends/s (single, concurrent, batched) and subscription lag.

Run: .venv/bin/python -m bench.event_store
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from commands.event_store.sqlite import SqliteEventStore
from domain.store import NewEvent, event_id

PAYLOAD = b'{"type":"Bench","n":1,"text":"hello world, this is a benchmark payload"}'


def ev() -> NewEvent:
    return NewEvent(id=event_id(), type="Bench", data=PAYLOAD)


async def sequential(store: SqliteEventStore, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        await store.append(f"seq-{i % 100}", [ev()], None)
    return n / (time.perf_counter() - t)


async def concurrent(store: SqliteEventStore, n: int, tasks: int) -> float:
    async def worker(w: int) -> None:
        for _ in range(n // tasks):
            await store.append(f"conc-{w}", [ev()], None)

    t = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(tasks)))
    return n / (time.perf_counter() - t)


async def batched(store: SqliteEventStore, n: int, size: int) -> float:
    t = time.perf_counter()
    for i in range(n // size):
        await store.append(f"batch-{i % 50}", [ev() for _ in range(size)], None)
    return n / (time.perf_counter() - t)


async def lag(store: SqliteEventStore, rate: int, seconds: float) -> list[float]:
    start_pos = await store.head()
    sent: dict[str, float] = {}
    lags: list[float] = []
    total = int(rate * seconds)
    done = asyncio.Event()

    async def subscriber() -> None:
        async for batch in store.subscribe(start_pos):
            now = time.perf_counter()
            for rec in batch:
                t0 = sent.get(rec.id)
                if t0 is not None:
                    lags.append(now - t0)
            if len(lags) >= total:
                done.set()
                return

    task = asyncio.create_task(subscriber())
    await asyncio.sleep(0.1)
    interval = 1.0 / rate
    t_start = time.perf_counter()
    for i in range(total):
        target = t_start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        e = ev()
        sent[e.id] = time.perf_counter()
        await store.append(f"lag-{i % 10}", [e], None)
    await asyncio.wait_for(done.wait(), 30)
    task.cancel()
    return lags


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


async def figures(events: int, batch: int = 100) -> dict[str, Any]:
    """Batched appends through the store (what ``im bench`` compares with raw SQLite inserts)."""
    with tempfile.TemporaryDirectory() as d:
        store = SqliteEventStore(Path(d) / "events.sqlite3")
        try:
            cpu = time.process_time()
            started = time.perf_counter()
            rate = await batched(store, events, batch)
            elapsed = time.perf_counter() - started
            return {
                "rate": rate,
                "unit": "ev/s",
                "events": events,
                "batch": batch,
                "client_cpu_s": time.process_time() - cpu,  # the store runs in this process
                "seconds": elapsed,
            }
        finally:
            await store.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        store = SqliteEventStore(Path(d) / "events.sqlite3")
        rate = await sequential(store, 3000)
        print(f"single appends, one at a time:      {rate:>10,.0f} ev/s")
        rate = await concurrent(store, 20000, 100)
        print(f"single appends, 100 concurrent:     {rate:>10,.0f} ev/s")
        rate = await batched(store, 100000, 100)
        print(f"batches of 100 events, sequential:  {rate:>10,.0f} ev/s")
        lags = await lag(store, 1000, 5.0)
        print(
            f"subscription lag at 1,000 appends/s: p50 {statistics.median(lags) * 1000:.2f} ms,"
            f" p99 {pct(lags, 0.99) * 1000:.2f} ms, max {max(lags) * 1000:.2f} ms"
            f" ({len(lags)} events)"
        )
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
