"""``/broadcasts`` through HTTP: superuser sends, what each user received, attachments, the
notification each recipient gets, and the live ``broadcast_received`` frame."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from domain.broadcasts import MAX_TARGETS
from tests.e2e.notify_helpers import Headers, admin_client, inbox, wait_for_kind
from tests.helpers import API, PASSWORD, ServerProcess, new_user, token_for

B = f"{API}/broadcasts"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Headers]]:
    async with admin_client(tmp_path / "data") as pair:
        yield pair


async def upload(c: httpx.AsyncClient, h: Headers, content: bytes, **form: str) -> Any:
    r = await c.post(
        f"{API}/files/upload", files={"file": ("a.txt", content)}, data=form, headers=h
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_superuser_broadcasts_and_users_see_what_they_received(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    (a, ha), (b, hb), (_x, hx) = [await new_user(c) for _ in range(3)]
    body: dict[str, Any] = {"title": "Everyone", "content": "Hello all", "priority": "high"}
    r = await c.post(f"{B}/", json=body, headers=root)
    assert r.status_code == 201, r.text
    everyone = r.json()
    assert set(everyone) == {
        "id", "title", "content", "priority", "sender_id", "target_user_ids", "attachments",
        "recipients", "created_at",
    }  # fmt: skip
    assert everyone["target_user_ids"] is None and everyone["attachments"] == []
    assert everyone["recipients"] == 4 and everyone["priority"] == "high"  # 3 users + root
    body = {"title": "Just you two", "target_user_ids": [a["id"], b["id"], a["id"]]}
    r = await c.post(f"{B}", json=body, headers=root)
    targeted = r.json()
    assert targeted["target_user_ids"] == [a["id"], b["id"]] and targeted["recipients"] == 2
    assert targeted["content"] == "" and targeted["priority"] == "normal"
    only_b = (
        await c.post(f"{B}/", json={"title": "b", "target_user_ids": [b["id"]]}, headers=root)
    ).json()

    async def listed(h: Headers, **params: Any) -> list[int]:
        r = await c.get(f"{B}/", params=params, headers=h)
        assert r.status_code == 200, r.text
        return [x["id"] for x in r.json()]

    assert await listed(ha) == [targeted["id"], everyone["id"]]
    assert await listed(hb) == [only_b["id"], targeted["id"], everyone["id"]]
    assert await listed(hb, skip=1, limit=1) == [targeted["id"]]
    assert await listed(hx) == [everyone["id"]]
    assert await listed(root) == [only_b["id"], targeted["id"], everyone["id"]]
    full = (await c.get(f"{B}/", headers=ha)).json()
    assert full[0] == targeted
    # Each recipient also gets a ``broadcast`` notification; the sender does not.
    (note,) = await wait_for_kind(c, hx, "broadcast")
    assert note["title"] == "Everyone" and note["content"] == "Hello all"
    assert note["priority"] == "high" and note["data"]["broadcast_id"] == everyone["id"]
    await wait_for_kind(c, hb, "broadcast", count=3)
    assert len(await wait_for_kind(c, ha, "broadcast", count=2)) == 2
    assert await inbox(c, root, type="broadcast") == []


async def test_only_superusers_broadcast_and_bad_input_is_4xx(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    a, ha = await new_user(c)
    ok = {"title": "t", "content": "c"}
    r = await c.post(f"{B}/", json=ok, headers=ha)
    assert r.status_code == 403 and "detail" in r.json()
    assert (await c.post(f"{B}/", json=ok)).status_code == 401
    assert (await c.get(f"{B}/")).status_code == 401
    for bad in (
        {"content": "no title"},
        {**ok, "title": ""},
        {**ok, "priority": "urgent"},
        {**ok, "target_user_ids": []},
        {**ok, "target_user_ids": [0]},
        {**ok, "target_user_ids": list(range(1, MAX_TARGETS + 2))},
        {**ok, "attachments": "f"},
    ):
        r = await c.post(f"{B}/", json=bad, headers=root)
        assert r.status_code == 422, (bad, r.text)
    r = await c.post(f"{B}/", json={**ok, "target_user_ids": [a["id"], 987654]}, headers=root)
    assert r.status_code == 400 and "987654" in r.json()["detail"]
    r = await c.post(f"{B}/", json={**ok, "title": " \n"}, headers=root)
    assert (r.status_code, r.json()["detail"]) == (400, "title must not be empty")
    assert (await c.get(f"{B}/", params={"limit": 0}, headers=ha)).status_code == 422


async def test_attachments_must_be_files_the_sender_can_see(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    _, ha = await new_user(c)
    mine = await upload(c, root, b"agenda")
    theirs = await upload(c, ha, b"private notes")  # superusers see every file
    body = {"title": "With files", "attachments": [mine["file_id"], theirs["file_id"]]}
    r = await c.post(f"{B}/", json=body, headers=root)
    assert r.status_code == 201, r.text
    assert r.json()["attachments"] == [mine["file_id"], theirs["file_id"]]
    for missing in ("0" * 32, "not-a-file-id"):
        r = await c.post(f"{B}/", json={"title": "x", "attachments": [missing]}, headers=root)
        assert r.status_code == 404, r.text
    assert (await c.delete(f"{API}/files/{mine['file_id']}", headers=root)).status_code == 204
    r = await c.post(f"{B}/", json={"title": "x", "attachments": [mine["file_id"]]}, headers=root)
    assert r.status_code == 404
    listed = (await c.get(f"{B}/", headers=ha)).json()
    assert listed[0]["attachments"] == [mine["file_id"], theirs["file_id"]]


async def test_broadcast_is_pushed_once_as_broadcast_received(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "srv", IM_FIRST_SUPERUSER="bc_root", IM_FIRST_SUPERUSER_PASSWORD=PASSWORD
    ).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            root = {"Authorization": f"Bearer {await token_for(c, 'bc_root')}"}
            a, ha = await new_user(c)
            token = ha["Authorization"].removeprefix("Bearer ")
            url = server.url.replace("http", "ws") + f"{API}/realtime/ws?token={token}"
            async with websockets.connect(url) as ws:
                assert json.loads(await ws.recv())["type"] == "connection_established"
                body = {"title": "Live", "content": "now", "target_user_ids": [a["id"]]}
                sent = (await c.post(f"{B}/", json=body, headers=root)).json()
                await wait_for_kind(c, ha, "broadcast")  # recorded as a notification
                # A notification created after it marks the end: in between, one frame only.
                marker = {"user_id": a["id"], "title": "marker", "content": ""}
                assert (await c.post(f"{API}/notifications/", json=marker, headers=root)).is_success
                frames: list[dict[str, Any]] = []
                deadline = time.monotonic() + 10
                while not frames or frames[-1]["type"] != "notification_created":
                    left = deadline - time.monotonic()
                    assert left > 0, frames
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
                got = [f["type"] for f in frames if f["type"] != "user_status_changed"]
                assert got == ["broadcast_received", "notification_created"], "pushed once"
                assert frames[0]["data"]["broadcast_id"] == sent["id"]
                assert frames[-1]["data"]["title"] == "marker"
    finally:
        server.stop()
