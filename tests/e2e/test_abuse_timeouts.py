"""Abuse suite: slow senders are cut off (request head and body deadlines), others are not."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.helpers import API, ServerProcess, new_user
from tests.ws import live


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("timeouts"),
        IM_HEADER_TIMEOUT_SECONDS="1",
        IM_BODY_TIMEOUT_SECONDS="1",
    ).start()
    yield srv
    srv.stop()


async def answer_after(server: ServerProcess, sent: bytes) -> tuple[bytes, float]:
    """Send ``sent`` and then nothing; what the server answers before closing, and when."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    started = time.monotonic()
    try:
        writer.write(sent)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)  # until the server closes
        return data, time.monotonic() - started
    finally:
        writer.close()


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /health HTTP/1.1\r\n", b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: aaa"],
)
async def test_a_request_head_that_does_not_arrive_gets_408(
    server: ServerProcess, sent: bytes
) -> None:
    data, took = await answer_after(server, sent)
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"too long" in data
    assert took < 5


async def test_a_body_that_stops_arriving_gets_408(server: ServerProcess) -> None:
    head = (
        f"POST {API}/users/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    data, took = await answer_after(server, head + b'{"standard_id": ')
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"request body" in data
    assert took < 5


async def test_an_idle_keep_alive_connection_and_a_quiet_websocket_are_not_cut(
    server: ServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
        _, headers = await new_user(c)
        assert (await c.get(f"{API}/users/me", headers=headers)).status_code == 200
        await asyncio.sleep(1.5)  # longer than the head deadline, on the same connection
        assert (await c.get(f"{API}/users/me", headers=headers)).status_code == 200
        token = headers["Authorization"].removeprefix("Bearer ")
        async with live(server.url, token) as ws:
            await asyncio.sleep(1.5)
            assert (await ws.ping())["type"] == "pong"
