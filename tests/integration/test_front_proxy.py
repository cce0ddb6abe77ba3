"""The real thing: Debian's nginx with the repo's ``deploy/nginx.conf`` (rendered for local
ports) in front of 2 command processes, 2 query processes, the projector and the relay on one
SQLite data folder, with presence in Redis.

Through the front: the end-to-end chat, conversation, group and file flows (a client forwarding
``X-Min-Position``), WebSocket clients spread over both query processes receiving every message
exactly once, presence and typing the same whichever process is asked, a rolling restart of one
query process losing nothing for clients that resume with ``?since=``, a bad-login flood from one
forwarded address not locking out another, and download URLs that work.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as redis

from bench.front_stack import NGINX, REPO, FrontStack
from tests.contract.test_presence import REDIS_URL
from tests.helpers import API, PASSWORD, forwarding_client, new_user
from tests.integration.cascade_harness import Cascade
from tests.ws import Live, live

ROOT, ROOT_PASSWORD = "front_root", "root-secret-1"
SKIP = ("notification_created", "user_status_changed", "typing")

pytestmark = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (.ci/run installs it)"
)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[FrontStack]:
    prefix = f"imtest:{uuid.uuid4().hex[:10]}:"
    async with Cascade(tmp_path) as cascade:
        env = {
            **cascade.env(),
            "IM_AMQP_PARTNER_QUEUE": "",
            "IM_REDIS_URL": REDIS_URL,
            "IM_REDIS_PREFIX": prefix,
            "IM_FIRST_SUPERUSER": ROOT,
            "IM_FIRST_SUPERUSER_PASSWORD": ROOT_PASSWORD,
            "IM_RATE_LIMIT_ENABLED": "true",
            "IM_RATE_LIMIT_LOGIN_PER_MINUTE": "10",
            "IM_TYPING_TIMEOUT_SECONDS": "1",
        }
        s = FrontStack(tmp_path, cascade.data, env)
        try:
            await asyncio.to_thread(s.start)
            async with httpx.AsyncClient(base_url=s.url, timeout=10) as c:
                for _ in range(100):
                    try:
                        if (await c.get("/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.05)
            yield s
        finally:
            await asyncio.to_thread(s.stop)
            client = redis.from_url(REDIS_URL)
            keys = [k async for k in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()


def _token(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def _root(c: httpx.AsyncClient) -> dict[str, str]:
    r = await c.post(
        f"{API}/auth/login/access-token", data={"username": ROOT, "password": ROOT_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _send(c: httpx.AsyncClient, headers: dict[str, str], cid: int, text: str) -> int:
    r = await c.post(
        f"{API}/messages/text", json={"conversation_id": cid, "content": text}, headers=headers
    )
    assert r.status_code == 201, r.text
    message_id: int = r.json()["id"]
    return message_id


async def _messages(ws: Live, n: int) -> list[dict[str, Any]]:
    return [await ws.expect("new_message", timeout=10, skip=SKIP) for _ in range(n)]


async def test_the_split_stack_behind_nginx(stack: FrontStack) -> None:
    front = stack.url
    async with forwarding_client(front) as c:
        root = await _root(c)
        owner, ho = await new_user(c)
        people = [await new_user(c) for _ in range(5)]
        body = {"name": "front", "member_ids": [u["id"] for u, _ in people]}
        group = await c.post(f"{API}/conversations/group", json=body, headers=ho)
        assert group.status_code == 201, group.text
        cid = group.json()["id"]
        since = group.headers["X-Event-Position"]

        # -- WebSocket clients spread over both query processes, every message exactly once ---
        async with (
            live(front, _token(people[0][1]), since=since) as w0,
            live(front, _token(people[1][1]), since=since) as w1,
            live(front, _token(people[2][1]), since=since) as w2,
            live(front, _token(people[3][1]), since=since) as w3,
        ):
            sockets = [w0, w1, w2, w3]
            for q in stack.queries:  # nginx spread the sockets over both query processes
                async with httpx.AsyncClient(base_url=q.url) as direct:
                    stats = await direct.get(f"{API}/realtime/connection-stats", headers=root)
                    assert stats.json()["local_connections"] >= 1, stats.text
            sent = []
            for i in range(20):
                r = await c.post(
                    f"{API}/messages/text",
                    json={"conversation_id": cid, "content": f"m{i}"},
                    headers=ho,
                )
                assert r.status_code == 201, r.text
                sent.append(r.json()["id"])
            for ws in sockets:
                got = [f["data"]["id"] for f in await _messages(ws, 20)]
                assert got == sent
            # and nothing twice: one more message is the next frame on every socket (frames
            # come in log order, so a repeat of the 20 would come before it)
            mark = await _send(c, ho, cid, "marker")
            for ws in sockets:
                await ws.marker("new_message", lambda f: f["data"]["id"] == mark)

            # -- presence and typing, the same whichever query process is asked -------------
            online = {u["id"] for u, _ in people[:4]}
            for q in stack.queries:
                async with httpx.AsyncClient(base_url=q.url) as direct:
                    r = await direct.get(f"{API}/realtime/online-users", headers=ho)
                    assert set(r.json()["online_users"]) == online, r.text
            typing = await c.post(
                f"{API}/messages/typing", json={"conversation_id": cid}, headers=people[0][1]
            )
            assert typing.status_code == 204, typing.text
            for ws in sockets[1:]:
                frame = await ws.expect(
                    "typing", skip=("notification_created", "user_status_changed")
                )
                assert frame["data"]["user_id"] == people[0][0]["id"]

        # -- a rolling restart of one query process loses nothing for resuming clients -------
        async with live(front, _token(people[4][1]), since=since) as w4:
            last = (await _messages(w4, 21))[-1]["position"]  # the 20 and the marker
        restarted = stack.queries[0]
        await asyncio.to_thread(restarted.stop)
        during = []
        for i in range(5):
            r = await c.post(
                f"{API}/messages/text",
                json={"conversation_id": cid, "content": f"d{i}"},
                headers=ho,
            )
            assert r.status_code == 201, r.text
            during.append(r.json()["id"])
        await asyncio.to_thread(restarted.start, 60)
        for _ in range(4):  # whichever process nginx picks, the resume is complete
            async with live(front, _token(people[4][1]), since=last) as again:
                got = [f["data"]["id"] for f in await _messages(again, len(during))]
                assert got == during
                # and nothing more: a new message is the next frame (log order)
                during.append(await _send(c, ho, cid, f"marker after {len(during)}"))
                await again.marker("new_message", lambda f: f["data"]["id"] == during[-1])

        # -- download URLs through the front ------------------------------------------------
        up = await c.post(
            f"{API}/files/upload", files={"file": ("hello.txt", b"hello front")}, headers=ho
        )
        assert up.status_code == 201, up.text
        url = up.json()["download_url"]
        assert url.startswith(front), url  # the front's host and port, not an app's
        download = await c.get(url, headers=ho)
        assert (download.status_code, download.content) == (200, b"hello front")

        # -- a bad-login flood from one forwarded address does not lock out another ---------
        async with httpx.AsyncClient(base_url=front, timeout=10) as raw:
            codes = set()
            for _ in range(25):  # over 10 a minute on each of the two command processes
                r = await raw.post(
                    f"{API}/auth/login/access-token",
                    data={"username": owner["standard_id"], "password": "wrong-password"},
                    headers={"X-Forwarded-For": "203.0.113.7"},
                )
                codes.add(r.status_code)
            assert 429 in codes  # that address is limited (on both command processes)
            ok = await raw.post(
                f"{API}/auth/login/access-token",
                data={"username": owner["standard_id"], "password": PASSWORD},
                headers={"X-Forwarded-For": "198.51.100.9"},
            )
            assert ok.status_code == 200, ok.text

        # -- the whole API is described whichever process answers -------------------------
        spec = await c.get("/openapi.json")
        paths = spec.json()["paths"]
        assert (
            f"{API}/messages/text" in paths
            and f"{API}/messages/conversation/{{conversation_id}}" in paths
        )

    # -- the end-to-end flows, through the front, as a careful client ----------------------
    e2e = [
        "tests/e2e/test_conversations.py",
        "tests/e2e/test_groups.py",
        "tests/e2e/test_messages.py",
        "tests/e2e/test_file_messages.py",
        "tests/e2e/test_files.py",
    ]
    env = {**os.environ, "IM_TEST_FRONT_URL": front}
    run = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *e2e],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=300,
    )
    out = run.stdout.decode()[-3000:]
    assert run.returncode == 0, out
    assert " passed" in out
