"""Scheduled notifications are pushed when they fall due: live, across a restart, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path

import httpx

from tests.helpers import API, PASSWORD, ServerProcess, new_user, token_for
from tests.ws import live

ROOT = "root_timer"


def server_for(data: Path) -> ServerProcess:
    return ServerProcess(data, IM_FIRST_SUPERUSER=ROOT, IM_FIRST_SUPERUSER_PASSWORD=PASSWORD)


async def schedule(
    c: httpx.AsyncClient, root: dict[str, str], user_id: int, at: float
) -> tuple[int, int]:
    when = dt.datetime.fromtimestamp(at, dt.UTC).isoformat()
    body = {"user_id": user_id, "title": "later", "content": "due", "scheduled_at": when}
    r = await c.post(f"{API}/notifications/", json=body, headers=root)
    assert r.status_code == 201, r.text
    return r.json()["id"], int(r.headers["X-Event-Position"])


async def due_frames(url: str, token: str, since: int, nid: int, seconds: float) -> list[float]:
    """Arrival times of ``notification_created`` frames for ``nid`` within ``seconds``."""
    got: list[float] = []
    async with live(url, token, since=since) as ws:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frame = await ws.next(left)
            except TimeoutError:
                break
            if frame["type"] == "notification_created" and frame["data"]["id"] == nid:
                got.append(time.time())
    return got


async def test_a_scheduled_notification_is_pushed_within_a_second_of_its_time(
    tmp_path: Path,
) -> None:
    server = server_for(tmp_path / "data").start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            root = {"Authorization": f"Bearer {await token_for(c, ROOT, PASSWORD)}"}
            user, h = await new_user(c)
            token = h["Authorization"].removeprefix("Bearer ")
            async with live(server.url, token) as ws:
                due = time.time() + 2.0
                nid, _ = await schedule(c, root, user["id"], due)
                while True:
                    frame = await ws.next(5)
                    if frame["type"] == "notification_created":
                        break
                arrived = time.time()
                assert frame["data"]["id"] == nid
                assert due - 0.05 <= arrived <= due + 1.0, arrived - due
                assert frame["data"]["scheduled_at"].endswith("Z")
    finally:
        server.stop()


async def test_a_notification_due_while_the_server_was_down_is_pushed_once_after_restart(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    server = server_for(data).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            root = {"Authorization": f"Bearer {await token_for(c, ROOT, PASSWORD)}"}
            user, h = await new_user(c)
            token = h["Authorization"].removeprefix("Bearer ")
            due = time.time() + 1.5
            nid, position = await schedule(c, root, user["id"], due)
    finally:
        server.stop()
    await asyncio.sleep(max(0.0, due - time.time()) + 0.5)  # it falls due while down
    for _ in range(2):  # and a second restart does not push it again
        server = server_for(data).start()
        try:
            got = await due_frames(server.url, token, position, nid, 3.0)
            assert len(got) == 1, got
        finally:
            server.stop()
