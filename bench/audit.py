"""Audit: NDJSON export and hash-chain verify of a large log; time travel in a long conversation.

A fresh SQLite event store is filled through the real append path (sealed, attributed events):
``--events`` in total (default 1,000,000), of which ``--messages`` (default 100,000) are one
group's messages with edits, read marks and a member change now and then; the rest are messages
in 1,000 other conversations. Each measurement then runs in its own child process, so its peak
RSS is its own:

- export: every event as NDJSON to a file (``queries.audit.export``), events/s and peak RSS;
- verify: the whole log's chains (``queries.audit.verify``), events/s;
- state: ``TimeTravel.state`` of the long conversation at random positions, page of 50
  (the first call folds the history; the rest use its snapshots), p50/p99.

Run: .venv/bin/python -m bench.audit [--events 1000000] [--messages 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from commands.event_store.sqlite import SqliteEventStore
from commands.event_store.sqlite_log import SqliteEventLog
from domain import conversations as c
from domain import tracing
from domain.audit import Scan
from domain.store import new_event
from projections.read_store.sqlite import SqliteReadStore
from projections.time_travel import TimeTravel
from projections.users import UsersProjection
from queries.audit import export, verify
from queries.audit_state import state_at

BATCH = 200
LONG = 1  # the long conversation's id


def _created(cid: int, at: float) -> c.ConversationCreated:
    return c.ConversationCreated(
        conversation_id=cid,
        conversation_type="group",
        creator_id=1,
        member_ids=(1, 2, 3, 4),
        name=f"group {cid}",
        at=at,
    )


def _sent(cid: int, seq: int, mid: int, at: float) -> c.MessageSent:
    return c.MessageSent(
        message_id=mid,
        conversation_id=cid,
        seq=seq,
        sender_id=1 + seq % 4,
        message_type="text",
        content=f"message {seq} in conversation {cid}: the quick brown fox jumps over the dog",
        at=at,
    )


async def fill(path: Path, total: int, long_messages: int) -> None:
    store = SqliteEventStore(path)
    started, mid, done = time.perf_counter(), 0, 0
    others = 1000
    seqs = dict.fromkeys(range(LONG, LONG + others + 1), 0)
    now = time.time()
    for cid in seqs:
        await store.append(c.conversation_stream(cid), [new_event(_created(cid, now))], -1)
    pending: list[asyncio.Future[int]] = []
    rnd = random.Random(7)
    while done < total:
        cid = (
            LONG
            if seqs[LONG] < long_messages and rnd.random() < 0.5
            else rnd.randrange(2, 2 + others)
        )
        n = BATCH if cid != LONG else 50
        first = seqs[cid]
        events = []
        for i in range(n):
            mid += 1
            events.append(new_event(_sent(cid, first + i + 1, mid, time.time())))
        with tracing.traced(tracing.Trace(tracing.new_id(), tracing.Actor("user", 1))):
            fut = asyncio.ensure_future(
                store.append(c.messages_stream(cid), events, first - 1 if first else -1)
            )
        seqs[cid] = first + n
        done += n
        pending.append(fut)
        if cid == LONG and rnd.random() < 0.2:  # a read mark and an edit now and then
            await asyncio.gather(*pending)
            pending.clear()
            reader = 1 + rnd.randrange(4)
            mark = c.ReadMarked(LONG, reader, seqs[LONG], at=time.time())
            await store.append(c.reads_stream(LONG, reader), [new_event(mark)], None)
            edit = c.MessageEdited(mid, LONG, seqs[LONG], 1 + (seqs[LONG]) % 4, "edited")
            await store.append(c.message_stream(mid), [new_event(edit)], None)
        if len(pending) >= 8:
            await asyncio.gather(*pending)
            pending.clear()
            rate = done / (time.perf_counter() - started)
            sys.stderr.write(f"\rfill: {done:,} events, {rate:,.0f}/s")
    await asyncio.gather(*pending)
    await store.close()
    sys.stderr.write(f"\rfill: {done:,} events in {time.perf_counter() - started:.1f}s\n")


async def phase_export(path: Path) -> str:
    log = SqliteEventLog(path)
    out = path.parent / "export.ndjson"
    count, started = 0, time.perf_counter()
    with out.open("wb") as f:
        async for chunk in export(log, Scan()):
            f.write(chunk)
            count += chunk.count(b"\n")
    elapsed = time.perf_counter() - started
    await log.close()
    size = out.stat().st_size
    out.unlink()
    rate = count / elapsed
    return f"export: {count:,} events in {elapsed:.2f}s = {rate:,.0f} events/s ({size >> 20} MiB)"


async def phase_verify(path: Path) -> str:
    log = SqliteEventLog(path)
    started = time.perf_counter()
    result = await verify(log)
    elapsed = time.perf_counter() - started
    await log.close()
    return (
        f"verify: {result.checked:,} events in {elapsed:.2f}s ="
        f" {result.checked / elapsed:,.0f} events/s (ok={result.ok})"
    )


async def phase_state(path: Path, samples: int) -> str:
    log = SqliteEventLog(path)
    read = SqliteReadStore(path.parent / "read.sqlite3")
    await read.declare(UsersProjection.collections)
    travel = TimeTravel(log)
    page = await log.stream_page(c.messages_stream(LONG), 0, 10**9)
    positions = [r.position for r in page]
    started = time.perf_counter()
    await state_at(travel, read, LONG, positions[-1], None)
    cold = time.perf_counter() - started
    rnd = random.Random(3)
    times = []
    for _ in range(samples):
        i = rnd.randrange(len(positions))
        after = max(0, i - rnd.randrange(0, 500))
        t = time.perf_counter()
        state = await state_at(travel, read, LONG, positions[i], None, after, 50)
        times.append(time.perf_counter() - t)
        assert state.messages and state.conversation.last_seq == i + 1
    await log.close()
    await read.close()
    times.sort()
    p50 = statistics.median(times) * 1000
    p99 = times[int(len(times) * 0.99) - 1] * 1000
    return (
        f"state?at= ({len(positions):,} messages, page of 50): first call (folds the history)"
        f" {cold * 1000:,.0f} ms; then p50 {p50:.1f} ms, p99 {p99:.1f} ms over {samples} positions"
    )


def child(phase: str, path: Path, samples: int) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF)
    if phase == "export":
        line = asyncio.run(phase_export(path))
    elif phase == "verify":
        line = asyncio.run(phase_verify(path))
    else:
        line = asyncio.run(phase_state(path, samples))
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = after.ru_maxrss / 1024
    print(f"{line}; CPU {cpu:.1f}s (all threads); peak RSS {peak:,.0f} MiB", flush=True)


def calibrate() -> float:
    """Seconds for 10M iterations of a bare Python loop: ~0.4 s on a quiet modern core, so
    the ratio says how much of a core this process was getting while it measured."""
    started, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--phase", choices=["export", "verify", "state"])
    p.add_argument("--db")
    args = p.parse_args()
    if args.phase:
        child(args.phase, Path(args.db), args.samples)
        return
    with tempfile.TemporaryDirectory(prefix="im-bench-audit-") as tmp:
        db = Path(tmp) / "events.sqlite3"
        asyncio.run(fill(db, args.events, args.messages))
        print(
            f"load average before measuring: {os.getloadavg()[0]:.1f};"
            f" 10M-iteration Python loop: {calibrate():.2f}s (quiet core: ~0.4s)",
            flush=True,
        )
        for phase in ("export", "verify", "state"):
            cmd = [sys.executable, "-m", "bench.audit", "--phase", phase, "--db", str(db)]
            subprocess.run([*cmd, "--samples", str(args.samples)], check=True)
        print(
            f"load average after: {os.getloadavg()[0]:.1f};"
            f" 10M-iteration Python loop: {calibrate():.2f}s",
            flush=True,
        )


if __name__ == "__main__":
    main()
