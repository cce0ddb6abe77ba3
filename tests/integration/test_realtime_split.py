"""The split deployment: ``im commands`` takes the writes, ``im projector`` projects them, and
``im queries`` holds the WebSockets and pushes what the other processes wrote."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import API, ServerProcess, new_user, server_env, wait_until
from tests.ws import live


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    data = tmp_path / "data"
    projector = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "projector"],
        env=server_env(data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    commands = ServerProcess(data, command="commands").start()
    queries = ServerProcess(data, command="queries", IM_TYPING_TIMEOUT_SECONDS="0.3").start()
    try:
        yield commands, queries
    finally:
        queries.stop()
        commands.stop()
        projector.terminate()
        projector.wait(10)


async def test_the_query_process_pushes_what_the_command_process_wrote(
    split: tuple[ServerProcess, ServerProcess],
) -> None:
    commands, queries = split
    async with (
        httpx.AsyncClient(base_url=commands.url, timeout=30) as w,
        httpx.AsyncClient(base_url=queries.url, timeout=30) as r,
    ):
        (_, ha), (b, hb) = await new_user(w), await new_user(w)
        for headers in (ha, hb):  # the projector process makes them known to both sides

            async def known(h: dict[str, str] = headers) -> bool:
                return (await r.get(f"{API}/users/me", headers=h)).status_code == 200

            await wait_until(known)
        body = {"name": "split", "member_ids": [b["id"]]}
        created = await w.post(f"{API}/conversations/group", json=body, headers=ha)
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        wait = {"X-Min-Position": created.headers["X-Event-Position"]}
        seen = await r.get(f"{API}/conversations/{cid}", headers={**hb, **wait})
        assert seen.status_code == 200, seen.text
        # Live from the position of the last write this client saw: everything after it arrives
        # once, nothing from before it (connection_established may report a later position).
        token = hb["Authorization"].removeprefix("Bearer ")
        since = created.headers["X-Event-Position"]
        async with live(queries.url, token, since=since) as wb:
            sent = await w.post(
                f"{API}/messages/text", json={"conversation_id": cid, "content": "hi"}, headers=ha
            )
            assert sent.status_code == 201, sent.text
            frame = await wb.expect("new_message")
            assert frame["data"]["id"] == sent.json()["id"]
            assert frame["data"]["sender_name"] is not None
            typing = await r.post(
                f"{API}/messages/typing", json={"conversation_id": cid}, headers=ha
            )
            assert typing.status_code == 204
            assert (await wb.expect("typing"))["data"]["is_typing"] is True
            assert (await wb.expect("typing"))["data"]["is_typing"] is False
