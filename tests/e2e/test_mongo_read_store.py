"""``IM_READ_STORE=mongo`` end to end, with SecantusDB standing in for MongoDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from tests.conftest import make_settings
from tests.helpers import API, ServerProcess, new_user, register, token_for, unique


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


def test_im_serve_with_mongo_read_store(tmp_path: Path, secantus_db: tuple[str, str]) -> None:
    """The real CLI: ``im serve`` configured only through ``IM_*`` variables."""
    url, db = secantus_db
    server = ServerProcess(
        tmp_path / "data", IM_READ_STORE="mongo", IM_MONGO_URL=url, IM_MONGO_DB=db
    ).start()
    try:

        async def scenario() -> None:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
                sids = [unique("cli") for _ in range(3)]
                users = [await register(c, sid, name=f"Cli {sid}") for sid in sids]
                for sid in sids:  # a user created by POST /users can log in at once
                    await token_for(c, sid)
                headers = {"Authorization": f"Bearer {await token_for(c, sids[0])}"}
                r = await c.get(f"{API}/users/search", params={"keyword": "CLI"}, headers=headers)
                assert r.status_code == 200
                assert {u["id"] for u in r.json()} == {u["id"] for u in users}

        asyncio.run(scenario())
    finally:
        server.stop()
