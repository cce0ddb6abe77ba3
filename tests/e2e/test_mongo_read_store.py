"""``IM_READ_STORE=mongo`` end to end, with SecantusDB standing in for MongoDB."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import make_settings
from tests.helpers import API, ServerProcess, new_user, register, server_env, token_for, unique


@pytest.fixture
async def mongo_client(
    tmp_path: Path, secantus_db: tuple[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    url, db = secantus_db
    settings = make_settings(tmp_path / "data", read_store="mongo", mongo_url=url, mongo_db=db)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


async def test_register_login_me_search_on_mongo(mongo_client: httpx.AsyncClient) -> None:
    marker = unique("m")
    user, headers = await new_user(mongo_client, standard_id=marker, name=f"Mongo {marker}")
    r = await mongo_client.get(f"{API}/users/me", headers=headers)
    assert r.status_code == 200 and r.json() == user
    r = await mongo_client.get(
        f"{API}/users/search", params={"keyword": marker.upper()}, headers=headers
    )
    assert r.status_code == 200
    assert [u["id"] for u in r.json()] == [user["id"]]
    r = await mongo_client.get(f"{API}/users/{user['id']}", headers=headers)
    assert r.status_code == 200 and r.json() == user
    r = await mongo_client.post(
        f"{API}/users/", json={"standard_id": marker, "name": "x", "password": "secret123"}
    )
    assert r.status_code == 400, r.text  # the contract: an existing standard_id is a 400


def test_im_serve_and_rebuild_with_mongo_read_store(
    tmp_path: Path, secantus_db: tuple[str, str]
) -> None:
    """The real CLI, configured only through ``IM_*`` variables: serve, rebuild, serve again."""
    url, db = secantus_db
    env = {"IM_READ_STORE": "mongo", "IM_MONGO_URL": url, "IM_MONGO_DB": db}
    sids = [unique("cli") for _ in range(3)]
    ids: set[int] = set()

    async def register_all(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            for sid in sids:
                ids.add((await register(c, sid, name=f"Cli {sid}"))["id"])
                await token_for(c, sid)  # a user created by POST /users can log in at once

    async def search_all(base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            headers = {"Authorization": f"Bearer {await token_for(c, sids[0])}"}
            r = await c.get(f"{API}/users/search", params={"keyword": "CLI"}, headers=headers)
            assert r.status_code == 200
            assert {u["id"] for u in r.json()} == ids

    server = ServerProcess(tmp_path / "data", **env).start()
    try:
        asyncio.run(register_all(server.url))
        asyncio.run(search_all(server.url))
    finally:
        server.stop()

    rebuilt = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "rebuild"],
        env=server_env(tmp_path / "data", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    m = re.search(r"rebuilt ([\d,]+) events", rebuilt.stdout)
    assert m is not None and int(m.group(1).replace(",", "")) >= len(sids), rebuilt.stdout

    again = ServerProcess(tmp_path / "data", **env).start()
    try:
        asyncio.run(search_all(again.url))
    finally:
        again.stop()
