"""Abuse suite: accounts (passwordless accounts are not revealed by timing)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

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


# -- 7. registration and failed-login limits; logins not starved by registrations -----------------
async def limited_app(tmp_path: Path, **overrides: object) -> Starlette:
    return create_app(
        make_settings(tmp_path / "data", rate_limit_enabled=True, **overrides)  # type: ignore[arg-type]
    )


def client_from(app: Starlette, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 1234))
    return httpx.AsyncClient(transport=transport, base_url="http://t")


async def test_registrations_are_limited_per_address(tmp_path: Path) -> None:
    app = await limited_app(tmp_path, rate_limit_registrations_per_hour=3)
    async with (
        app.router.lifespan_context(app),
        client_from(app, "10.0.0.1") as a,
        client_from(app, "10.0.0.2") as b,
    ):
        for _ in range(3):
            await register(a)
        body = {"standard_id": unique(), "name": "N", "password": PASSWORD}
        r = await a.post(f"{API}/users/", json=body)
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
        await register(b)  # another address is not affected


async def test_failed_logins_are_limited_per_account_from_any_address(tmp_path: Path) -> None:
    app = await limited_app(tmp_path, rate_limit_failed_logins_per_hour=3)
    async with (
        app.router.lifespan_context(app),
        client_from(app, "10.0.0.1") as a,
        client_from(app, "10.0.0.2") as b,
    ):
        victim = (await register(a))["standard_id"]
        other = (await register(a))["standard_id"]
        for i in range(3):
            address = a if i % 2 else b
            r = await address.post(
                f"{API}/auth/login/access-token",
                data={"username": victim.upper(), "password": "wrong-guess"},
            )
            assert r.status_code == 400
        for who in (a, b):  # even the right password waits now, from anywhere
            r = await who.post(
                f"{API}/auth/login/access-token",
                data={"username": victim, "password": PASSWORD},
            )
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        r = await a.post(
            f"{API}/auth/login/access-token", data={"username": other, "password": PASSWORD}
        )
        assert r.status_code == 200


async def test_a_login_does_not_wait_behind_a_registration_flood(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data", password_memory_kib=MEMORY_KIB))
    async with app.router.lifespan_context(app), client_from(app, "10.0.0.1") as c:
        user = await register(c)
        done: list[str] = []

        async def sign_up() -> None:
            await register(c)
            done.append("registration")

        async def log_in() -> None:
            await asyncio.sleep(0.05)  # the registrations are queued by now
            r = await c.post(
                f"{API}/auth/login/access-token",
                data={"username": user["standard_id"], "password": PASSWORD},
            )
            assert r.status_code == 200
            done.append("login")

        await asyncio.gather(*[sign_up() for _ in range(12)], log_in())
        # With one shared pool the login would finish behind most of the 12 hashes.
        assert done.index("login") < 6, done
