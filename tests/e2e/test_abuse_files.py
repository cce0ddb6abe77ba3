"""Abuse suite: file bytes that nothing refers to do not stay on disk for ever."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx

from gateway.app import create_app
from tests.conftest import make_settings
from tests.helpers import API, new_user, wait_until


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


async def test_orphaned_blobs_are_swept_at_start_up_after_a_grace_period(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", blob_orphan_grace_seconds=600)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        svc = app.state.services
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
            writer = await svc.blobs.create(key)
            await writer.write(b"orphan bytes")
            await writer.commit()
            orphans.append(key)
        old_orphan, young_orphan = orphans
        age(svc.blobs.path_for(old_orphan), 3600)
        age(svc.blobs.path_for(kept), 3600)
        paths = {k: svc.blobs.path_for(k) for k in (kept, old_orphan, young_orphan)}

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
