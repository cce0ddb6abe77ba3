"""Abuse suite: access that must end, and operational endpoints that need a credential."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import jwt
import pytest
import websockets

from gateway.app import create_app
from tests.conftest import make_settings
from tests.e2e.chat_helpers import group, sent, users
from tests.helpers import API, PASSWORD, ServerProcess, new_user, token_for
from tests.ws import EPHEMERAL, Live, close_code, live, ws_url

METRICS_TOKEN = "metrics-" + "m" * 24


async def test_metrics_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data", metrics_token=METRICS_TOKEN))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/metrics")).status_code == 401
            for wrong in ("Bearer nope", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x"):
                r = await c.get("/metrics", headers={"Authorization": wrong})
                assert r.status_code == 401, wrong
                assert "IM_METRICS_TOKEN" in r.json()["detail"]
            r = await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert r.status_code == 200 and "im_" in r.text
            assert (await c.get("/health")).status_code == 200  # health stays open


async def test_metrics_are_public_without_a_token(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/metrics")).status_code == 200


# -- 2. sockets end with their access; 8. a cap per user --------------------------------------
API_KEY = "partner-key-" + "k" * 20
ROOT = "root_access"
JWT_SECRET = "test-secret-" + "x" * 40  # tests.helpers.server_env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("access"),
        IM_PARTNER_API_KEYS=API_KEY,
        IM_WS_MAX_PER_USER="6",
        IM_FIRST_SUPERUSER=ROOT,
        IM_FIRST_SUPERUSER_PASSWORD=PASSWORD,
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def closed_with(ws: Live, timeout: float = 5.0) -> int:
    """Read (ignoring frames) until the server closes; the close code."""
    try:
        while True:
            await ws.next(timeout)
    except websockets.ConnectionClosed as exc:
        received = exc.rcvd
    if received is None:
        raise AssertionError("closed without a close frame")
    return received.code


async def test_a_deactivated_users_socket_is_closed_with_4401(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    user, headers = await new_user(http)
    async with live(server.url, bearer(headers)) as ws:
        r = await http.post(
            f"{API}/cascade/sync/users",
            json={"users": [{"standard_id": user["standard_id"], "name": "x", "is_active": False}]},
            headers={"X-API-Key": API_KEY},
        )
        assert r.status_code == 200 and r.json()["updated"] == 1, r.text
        assert await closed_with(ws) == 4401
    code, _ = await close_code(ws_url(server.url, bearer(headers)))
    assert code == 4401  # and it cannot come back


async def test_a_socket_is_closed_with_4401_when_its_token_expires(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    user, _ = await new_user(http)
    now = int(time.time())
    token = jwt.encode({"sub": str(user["id"]), "iat": now, "exp": now + 2}, JWT_SECRET)
    async with live(server.url, token) as ws:
        started = time.monotonic()
        assert await closed_with(ws, timeout=10) == 4401
        assert time.monotonic() - started < 5


async def test_removal_ends_that_conversation_on_the_socket_and_keeps_the_others(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (_owner, ho), (member, hm) = await users(http, 2)
    a = await group(http, ho, [member["id"]], name="A")
    b = await group(http, ho, [member["id"]], name="B")
    async with live(server.url, bearer(hm)) as ws:
        r = await http.delete(f"{API}/conversations/{a['id']}/members/{member['id']}", headers=ho)
        assert r.status_code == 200
        removed = await ws.expect("member_removed")
        assert removed["data"]["conversation_id"] == a["id"]
        await sent(http, ho, a["id"], "after the removal")
        await sent(http, ho, b["id"], "still here")
        frame = await ws.expect("new_message", skip=(*EPHEMERAL, "message_sent"))
        # In log order: A's message, sent first, can no longer come after B's.
        assert frame["data"]["conversation_id"] == b["id"], frame


async def test_at_most_ws_max_per_user_sockets_per_user(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    _, headers = await new_user(http)
    url = ws_url(server.url, bearer(headers))
    async with AsyncExitStack() as stack:
        for _ in range(6):
            await stack.enter_async_context(live(server.url, bearer(headers)))
        code, _ = await close_code(url)
        assert code == 4429
    async with live(server.url, bearer(headers)) as ws:  # room again once they are gone
        assert (await ws.ping())["type"] == "pong"


async def test_typing_floods_are_coalesced_per_conversation_and_user(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (_a, ha), (b, hb) = await users(http, 2)
    g = await group(http, ha, [b["id"]])
    async with live(server.url, bearer(hb)) as wb:
        body = {"conversation_id": g["id"], "is_typing": True}
        started = time.monotonic()
        for _ in range(200):
            r = await http.post(f"{API}/messages/typing", json=body, headers=ha)
            assert r.status_code == 204
        took = time.monotonic() - started
        await sent(http, ha, g["id"], "done typing")
        typing: list[bool] = []
        while (frame := await wb.next())["type"] != "new_message":
            if frame["type"] == "typing":
                typing.append(frame["data"]["is_typing"])
        # One "typing", plus a refresh per 2.5 s (min(3 s, timeout/2)) the calls took; not 200.
        assert 1 <= typing.count(True) <= 2 + took / 2.5, (typing, took)
        off = await wb.expect("typing", skip=("user_status_changed", "notification_created"))
        assert off["data"]["is_typing"] is False


async def test_replays_run_one_at_a_time_per_user_and_each_is_complete(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    root = {"Authorization": f"Bearer {await token_for(http, ROOT, PASSWORD)}"}
    user, headers = await new_user(http)
    first = None
    for i in range(150):
        body = {
            "title": f"b{i}",
            "content": "x",
            "priority": "low",
            "target_user_ids": [user["id"]],
        }
        r = await http.post(f"{API}/realtime/broadcast", json=body, headers=root)
        assert r.status_code == 200
        first = first or r.json()["broadcast_id"]
    running: list[int] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            stats = await http.get(f"{API}/realtime/connection-stats", headers=root)
            running.append(stats.json()["replays_running"])
            await asyncio.sleep(0.01)

    async def resume() -> list[str]:
        async with live(server.url, bearer(headers), since=0) as ws:
            return [(await ws.expect("broadcast_received"))["data"]["title"] for _ in range(150)]

    watcher = asyncio.create_task(watch())
    got = await asyncio.gather(*[resume() for _ in range(5)])
    done.set()
    await watcher
    assert all(titles == [f"b{i}" for i in range(150)] for titles in got)
    assert running and max(running) <= 1, running
