"""Notification costs on the embedded backend, through the composition root (no HTTP):

- creating notifications (one per user, concurrently: the appends share group commits);
- a light user's status change before and after another user has 10,000 notifications
  (per-user streams: it must not change), and the heavy user's own, warm and cold;
- "mark all read" over 10,000; the policy turning one broadcast to everyone into notifications.

Run: .venv/bin/python -m bench.notifications
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from bench.harness import make_settings
from commands.broadcasts import SendBroadcast
from commands.notifications import MarkNotifications
from commands.users import RegisterUser
from domain.notifications import Draft
from gateway.app import Process

USERS = 1000
HEAVY = 10_000
TOGGLES = 200


async def toggles(svc: Process, user_id: int, nid: int) -> float:
    """Median milliseconds of one read/unread status change."""
    times = []
    for i in range(TOGGLES):
        started = time.perf_counter()
        await svc.commands.notifications.mark_notifications(
            MarkNotifications(user_id, [nid], i % 2 == 0)
        )
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        svc = Process(make_settings(Path(d) / "data"))
        await svc.start()
        try:
            ids = []
            for i in range(USERS):
                event, _ = await svc.commands.users.register_user(
                    RegisterUser(f"b{i}", f"B {i}", "secret1")
                )
                ids.append(event.user_id)
            heavy, light = ids[0], ids[1]

            started = time.perf_counter()
            made = await svc.commands.notifications.create_many(
                [Draft(u, "hello", "x") for u in ids]
            )
            took = time.perf_counter() - started
            print(f"create {USERS} notifications (1 per user):  {USERS / took:>9,.0f} /s")

            light_nid = made[1][0].notification_id  # type: ignore[index]
            before = await toggles(svc, light, light_nid)
            started = time.perf_counter()
            for _ in range(HEAVY // 1000):
                await svc.commands.notifications.create_many([Draft(heavy, "h", "x")] * 1000)
            took = time.perf_counter() - started
            print(f"create {HEAVY:,} for one user:            {HEAVY / took:>9,.0f} /s")
            await svc.queries.wait_for(
                await svc.commands.events.head(), timeout=120
            )  # projector idle again
            after = await toggles(svc, light, light_nid)
            print(
                f"light user's status change, median:       {before:>9.2f} ms before,"
                f" {after:.2f} ms after the heavy user's {HEAVY:,}"
            )
            heavy_nid = made[0][0].notification_id  # type: ignore[index]
            warm = await toggles(svc, heavy, heavy_nid)
            print(f"heavy user's own status change (warm):    {warm:>9.2f} ms")
            svc.commands.notifications._cache.clear()
            started = time.perf_counter()
            await svc.commands.notifications.mark_notifications(
                MarkNotifications(heavy, [heavy_nid])
            )
            cold = (time.perf_counter() - started) * 1000
            print(f"heavy user's first change after restart:  {cold:>9.2f} ms (loads own stream)")
            started = time.perf_counter()
            await svc.commands.notifications.mark_notifications(MarkNotifications(heavy, None))
            took = (time.perf_counter() - started) * 1000
            print(f"mark all {HEAVY:,} read:                     {took:>9.2f} ms")

            policy = svc.notify_policy
            before_count = policy.notified
            started = time.perf_counter()
            await svc.commands.broadcasts.send_broadcast(
                SendBroadcast(sender_id=heavy, title="all", content="hands", recipients=USERS)
            )
            while policy.notified < before_count + USERS - 1:  # noqa: ASYNC110 (a counter)
                await asyncio.sleep(0.005)
            took = time.perf_counter() - started
            print(
                f"policy: broadcast to everyone -> {USERS - 1} notifications in {took:.2f} s"
                f" ({(USERS - 1) / took:,.0f} /s)"
            )
        finally:
            await svc.stop()


if __name__ == "__main__":
    asyncio.run(main())
