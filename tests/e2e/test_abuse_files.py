"""Abuse suite: file bytes that nothing refers to do not stay on disk for ever."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx

from gateway.app import create_app
from tests.conftest import make_settings
from tests.e2e.chat_helpers import group, users
from tests.helpers import API, new_user, wait_until


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_orphaned_blobs_are_swept_at_start_up_after_a_grace_period(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", blob_orphan_grace_seconds=600)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        blobs = app.state.process.commands.blobs
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            _, h = await new_user(c)
            up = await c.post(
                f"{API}/files/upload", files={"file": ("a.txt", b"kept", "text/plain")}, headers=h
            )
            assert up.status_code == 201
            kept = up.json()["file_id"]
        # What a crash between the blob's rename and its event leaves behind.
        orphans = []
        for _ in range(2):
            key = uuid.uuid4().hex
            writer = await blobs.create(key)
            await writer.write(b"orphan bytes")
            await writer.commit()
            orphans.append(key)
        old_orphan, young_orphan = orphans
        age(blobs.path_for(old_orphan), 3600)
        age(blobs.path_for(kept), 3600)
        paths = {k: blobs.path_for(k) for k in (kept, old_orphan, young_orphan)}

    app = create_app(settings)  # the sweep runs at start-up (and then hourly)
    async with app.router.lifespan_context(app):

        async def swept() -> bool:
            return not paths[old_orphan].exists()

        await wait_until(swept)
        assert paths[kept].exists()  # referenced by its FileUploaded event
        assert paths[young_orphan].exists()  # inside the grace period: maybe an upload at work
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get(f"{API}/files/download/{kept}", headers=h)
            assert r.status_code == 200 and r.content == b"kept"


# -- 15. a recall ends the access the message gave ---------------------------------------------
async def send_file(c: httpx.AsyncClient, h: dict[str, str], cid: int, file_id: str) -> int:
    r = await c.post(
        f"{API}/messages/file", json={"conversation_id": cid, "file_id": file_id}, headers=h
    )
    assert r.status_code == 201, r.text
    message_id: int = r.json()["id"]
    return message_id


async def recall(c: httpx.AsyncClient, h: dict[str, str], message_id: int) -> None:
    r = await c.post(f"{API}/messages/{message_id}/recall", headers=h)
    assert r.status_code == 200, r.text


async def test_recalling_a_file_message_ends_the_members_access(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (x, hx) = await users(client, 3)
    up = await client.post(
        f"{API}/files/upload", files={"file": ("s.txt", b"secret", "text/plain")}, headers=ha
    )
    fid = up.json()["file_id"]
    g = await group(client, ha, [b["id"]])
    other = await group(client, ha, [x["id"]], name="Other")
    first = await send_file(client, ha, g["id"], fid)
    second = await send_file(client, ha, g["id"], fid)
    in_other = await send_file(client, ha, other["id"], fid)
    url = f"{API}/files/download/{fid}"
    assert (await client.get(url, headers=hb)).status_code == 200
    await recall(client, ha, first)
    assert (await client.get(url, headers=hb)).status_code == 200  # the second still carries it
    await recall(client, ha, second)
    for path in ("download", "info", "download-info"):
        r = await client.get(f"{API}/files/{path}/{fid}", headers=hb)
        assert r.status_code == 404, path
    assert (await client.get(url, headers=hx)).status_code == 200  # shared elsewhere
    assert (await client.get(url, headers=ha)).status_code == 200  # the uploader keeps it
    await recall(client, ha, in_other)
    assert (await client.get(url, headers=hx)).status_code == 404
    assert (await client.get(url, headers=ha)).status_code == 200
