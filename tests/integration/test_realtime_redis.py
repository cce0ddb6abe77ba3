"""Two query processes share presence and typing through Redis (``IM_REDIS_URL``)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as redis

from tests.contract.test_presence import REDIS_URL
from tests.helpers import API, ServerProcess, new_user
from tests.ws import live


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    p = f"imtest:{uuid.uuid4().hex[:10]}:"
    yield p
    client = redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=p + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
def split(tmp_path: Path, prefix: str) -> Iterator[list[ServerProcess]]:
    data = tmp_path / "data"
    env = {"IM_REDIS_URL": REDIS_URL, "IM_REDIS_PREFIX": prefix, "IM_TYPING_TIMEOUT_SECONDS": "1"}
    projector = ServerProcess(data, command="projector", **env)
    projector.proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "projector"],
        env=projector.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    procs = [ServerProcess(data, command=c, **env) for c in ("commands", "queries", "queries")]
    try:
        for p in procs:
            p.start()
        yield procs
    finally:
        for p in [*procs, projector]:
            p.stop()


async def test_presence_and_typing_across_query_processes(split: list[ServerProcess]) -> None:
    commands, q1, q2 = split
    async with (
        httpx.AsyncClient(base_url=commands.url, timeout=30) as w,
        httpx.AsyncClient(base_url=q1.url, timeout=30) as r1,
        httpx.AsyncClient(base_url=q2.url, timeout=30) as r2,
    ):
        (a, ha), (b, hb) = await new_user(w), await new_user(w)
        created = await w.post(
            f"{API}/conversations/group", json={"name": "g", "member_ids": [b["id"]]}, headers=ha
        )
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        pos = {"X-Min-Position": created.headers["X-Event-Position"]}
        token = {h: hh["Authorization"].removeprefix("Bearer ") for h, hh in (("a", ha), ("b", hb))}
        async with live(q2.url, token["b"]) as wb:
            async with live(q1.url, token["a"]):
                status = await wb.expect("user_status_changed", skip=("notification_created",))
                assert status["data"] == {"user_id": a["id"], "is_online": True}
                for r in (r1, r2):  # the same answer whichever process is asked
                    s = await r.get(f"{API}/realtime/user-status/{a['id']}", headers={**hb, **pos})
                    assert s.json()["is_online"] is True, s.text
                    online = await r.get(f"{API}/realtime/online-users", headers=hb)
                    assert set(online.json()["online_users"]) == {a["id"], b["id"]}
                    statuses = await r.post(
                        f"{API}/users/statuses", json={"user_ids": [a["id"]]}, headers=hb
                    )
                    assert statuses.json()["statuses"] == {str(a["id"]): True}
                typing = await r1.post(
                    f"{API}/messages/typing", json={"conversation_id": cid}, headers={**ha, **pos}
                )
                assert typing.status_code == 204, typing.text
                frame = await wb.expect("typing", skip=("notification_created",))
                assert frame["data"] == {
                    "conversation_id": cid,
                    "user_id": a["id"],
                    "is_typing": True,
                }
                stop = await wb.expect("typing", skip=("notification_created",))
                assert stop["data"]["is_typing"] is False  # the timeout, once, not once per process
                # The marker: a typing start through the other process. A second "stop" (a
                # timer per process) would have fired with the first, so it would come first.
                again = await r2.post(
                    f"{API}/messages/typing", json={"conversation_id": cid}, headers={**ha, **pos}
                )
                assert again.status_code == 204, again.text
                await wb.marker("typing", lambda f: f["data"]["is_typing"] is True)
                stop = await wb.expect("typing", skip=("notification_created",))
                assert stop["data"]["is_typing"] is False
            status = await wb.expect("user_status_changed", skip=("notification_created",))
            assert status["data"] == {"user_id": a["id"], "is_online": False}
            s = await r2.get(f"{API}/realtime/user-status/{a['id']}", headers=hb)
            assert s.json()["is_online"] is False
            assert s.json()["last_seen"] is not None
