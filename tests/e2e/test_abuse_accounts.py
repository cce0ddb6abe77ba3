"""Abuse suite: accounts (passwordless accounts are not revealed by timing)."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from commands.passwords import Passwords
from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, register, unique

API_KEY = "partner-key-" + "k" * 20
MEMORY_KIB = 19456  # the production cost, so a hash is long enough to see


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("accounts") / "data",
        partner_api_keys=API_KEY,
        password_memory_kib=MEMORY_KIB,
    )


@pytest.fixture
async def c(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def login_seconds(c: httpx.AsyncClient, username: str, password: str) -> float:
    started = time.perf_counter()
    r = await c.post(
        f"{API}/auth/login/access-token", data={"username": username, "password": password}
    )
    elapsed = time.perf_counter() - started
    assert r.status_code == 400, r.text
    return elapsed


async def one_hash_seconds() -> float:
    """How long one verification at the server's cost takes here (the fastest of a few)."""
    pw = Passwords(memory_kib=MEMORY_KIB)
    try:
        hashed = await pw.hash("something")
        times = []
        for _ in range(3):
            started = time.perf_counter()
            await pw.verify(hashed, "wrong")
            times.append(time.perf_counter() - started)
        return min(times)
    finally:
        pw.close()


async def test_a_passwordless_account_answers_a_login_in_one_hashs_time(
    c: httpx.AsyncClient,
) -> None:
    synced = unique("sy")
    r = await c.post(
        f"{API}/cascade/sync/users",
        json={"users": [{"standard_id": synced, "name": "Synced"}]},
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 200 and r.json()["created"] == 1
    normal = unique("nm")
    await register(c, normal)
    await login_seconds(c, synced, "warm-up")  # a first call may prepare the dummy hash
    passwordless = statistics.median([await login_seconds(c, synced, "guess") for _ in range(5)])
    unknown = statistics.median([await login_seconds(c, unique("no"), "guess") for _ in range(5)])
    floor = await one_hash_seconds()
    # Lower bounds only: a busy machine makes logins slower, never faster than a hash.
    assert passwordless >= 0.5 * floor, (passwordless, floor)
    assert unknown >= 0.5 * floor, (unknown, floor)
    ok = await c.post(
        f"{API}/auth/login/access-token", data={"username": normal, "password": PASSWORD}
    )
    assert ok.status_code == 200
