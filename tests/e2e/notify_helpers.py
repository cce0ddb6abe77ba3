"""Helpers for the notifications, broadcasts and events tests: an app with a superuser."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, token_for, unique, wait_until

Headers = dict[str, str]
ROOT = "root_notify"


@asynccontextmanager
async def admin_client(
    data_dir: Path, **overrides: object
) -> AsyncIterator[tuple[httpx.AsyncClient, Headers]]:
    """An in-process app whose first superuser is ``ROOT``: (client, the superuser's headers)."""
    settings = make_settings(
        data_dir, first_superuser=ROOT, first_superuser_password=PASSWORD, **overrides
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c, {"Authorization": f"Bearer {await token_for(c, ROOT)}"}


async def notify(c: httpx.AsyncClient, root: Headers, user_id: int, **kw: Any) -> Any:
    body = {"user_id": user_id, "title": kw.pop("title", unique("t")), "content": "c", **kw}
    r = await c.post(f"{API}/notifications/", json=body, headers=root)
    assert r.status_code == 201, r.text
    return r.json()


async def inbox(c: httpx.AsyncClient, h: Headers, **params: Any) -> list[Any]:
    r = await c.get(f"{API}/notifications/", params={"limit": 200, **params}, headers=h)
    assert r.status_code == 200, r.text
    out: list[Any] = r.json()
    return out


async def wait_for_kind(
    c: httpx.AsyncClient, h: Headers, kind: str, count: int = 1, timeout: float = 10.0
) -> list[Any]:
    """Wait until the caller has at least ``count`` notifications of ``kind``; returns them."""
    found: list[Any] = []

    async def enough() -> bool:
        found[:] = await inbox(c, h, type=kind)
        return len(found) >= count

    await wait_until(enough, timeout)
    return found
