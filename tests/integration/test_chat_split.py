"""The split deployment on one SQLite data folder: two ``im commands`` processes write to the
same conversation, ``im projector`` builds the read models, ``im queries`` serves reads.
Sends through both stay gap-free (a conflict reloads only the stream's tail), and membership
changes made through one process take effect in the other."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import API, PASSWORD, ServerProcess, unique, wait_until


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess, ServerProcess]]:
    data = tmp_path / "data"
    projector = ServerProcess(data, command="projector")
    procs = [ServerProcess(data, command=c) for c in ("commands", "commands", "queries")]
    # ``im projector`` serves no HTTP, so it is started without waiting for /health
    projector.proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "projector"],
        env=projector.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for p in procs:
            p.start()
        yield procs[0], procs[1], procs[2]
    finally:
        for p in [*procs, projector]:
            p.stop()


async def _user(a: httpx.AsyncClient, q: httpx.AsyncClient) -> tuple[Any, dict[str, str]]:
    sid = unique()
    r = await a.post(f"{API}/users/", json={"standard_id": sid, "name": sid, "password": PASSWORD})
    assert r.status_code == 201, r.text
    t = await a.post(f"{API}/auth/login/access-token", data={"username": sid, "password": PASSWORD})
    headers = {"Authorization": f"Bearer {t.json()['access_token']}"}

    async def projected() -> bool:
        return (await q.get(f"{API}/users/me", headers=headers)).status_code == 200

    await wait_until(projected, timeout=10)
    return r.json(), headers


async def test_two_command_processes_share_a_conversation(
    split: tuple[ServerProcess, ServerProcess, ServerProcess],
) -> None:
    one, two, reads = split
    async with (
        httpx.AsyncClient(base_url=one.url, timeout=30) as a,
        httpx.AsyncClient(base_url=two.url, timeout=30) as b,
        httpx.AsyncClient(base_url=reads.url, timeout=30) as q,
    ):
        (_owner, ho), (m1, h1), (m2, h2) = [await _user(a, q) for _ in range(3)]
        body = {"name": "split", "member_ids": [m1["id"]]}
        r = await a.post(f"{API}/conversations/group", json=body, headers=ho)
        assert r.status_code == 201, r.text
        cid = r.json()["id"]

        async def burst(c: httpx.AsyncClient, h: dict[str, str], tag: str) -> list[Any]:
            out = []
            for i in range(25):
                r = await c.post(
                    f"{API}/messages/text",
                    json={"conversation_id": cid, "content": f"{tag}{i}"},
                    headers=h,
                )
                assert r.status_code == 201, r.text
                out.append(r.json())
            return out

        sent = await asyncio.gather(burst(a, ho, "a"), burst(b, h1, "b"), burst(b, ho, "c"))
        acked = [m for part in sent for m in part]
        assert len({m["seq"] for m in acked}) == 75
        params = {"limit": 200}
        wait = {**ho, "X-Min-Position": str(int(r.headers["x-event-position"]))}

        async def all_projected() -> bool:
            r = await q.get(f"{API}/messages/conversation/{cid}", params=params, headers=wait)
            return r.status_code == 200 and len(r.json()) == 76

        await wait_until(all_projected, timeout=20)
        page = (await q.get(f"{API}/messages/conversation/{cid}", params=params, headers=ho)).json()
        assert [m["seq"] for m in page] == list(range(1, 77))
        assert {m["id"] for m in acked} <= {m["id"] for m in page}

        # added through one process, allowed at once through the other
        r = await a.post(f"{API}/conversations/{cid}/members", json={"user_ids": [m2["id"]]},
                         headers=ho)  # fmt: skip
        assert r.status_code == 200, r.text
        r = await b.post(f"{API}/messages/text", json={"conversation_id": cid, "content": "hi"},
                         headers=h2)  # fmt: skip
        assert r.status_code == 201, r.text

        # removed through one process, refused by the other soon after
        r = await a.delete(f"{API}/conversations/{cid}/members/{m1['id']}", headers=ho)
        assert r.status_code == 200, r.text

        async def refused() -> bool:
            r = await b.post(f"{API}/messages/text",
                             json={"conversation_id": cid, "content": "still here?"},
                             headers=h1)  # fmt: skip
            return r.status_code == 403

        await wait_until(refused, timeout=5)
