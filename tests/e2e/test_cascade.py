"""``/cascade`` over HTTP: partner credentials, mq-info, idempotent user sync."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.partners import issue_partner_token
from tests.conftest import make_settings
from tests.helpers import (
    API,
    PASSWORD,
    free_port,
    new_user,
    server_env,
    token_for,
    unique,
    wait_until,
)

API_KEY = "partner-key-" + "k" * 20
PARTNER_SECRET = "partner-secret-" + "s" * 30
ROOT = "root_" + "cascade"


@pytest.fixture
async def partner_client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        tmp_path / "data",
        partner_api_keys=f"other-key-{'o' * 20},{API_KEY}",
        partner_jwt_secret=PARTNER_SECRET,
        first_superuser=ROOT,
        first_superuser_password=PASSWORD,
        amqp_public_url="amqp://partner:p%40ss@mq.example.com:5673/partners",
    )
    application: Starlette = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


KEY = {"X-API-Key": API_KEY}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def head(client: httpx.AsyncClient) -> int:
    r = await client.get("/ready")
    value: int = r.json()["head"]
    return value


async def test_only_partners_and_superusers(partner_client: httpx.AsyncClient) -> None:
    c = partner_client
    _, user = await new_user(c)
    root = bearer(await token_for(c, ROOT))
    good_jwt = bearer(issue_partner_token("acme", PARTNER_SECRET, days=1))
    now = int(time.time())
    expired = jwt.encode(
        {"sub": "acme", "scope": "cascade", "iat": now - 100, "exp": now - 10}, PARTNER_SECRET
    )
    unscoped = jwt.encode({"sub": "acme", "exp": now + 100}, PARTNER_SECRET)
    cases: list[tuple[dict[str, str], int]] = [
        ({}, 401),
        (user, 403),
        (root, 200),
        (KEY, 200),
        ({"X-API-Key": "wrong-key-" + "w" * 20}, 401),
        (good_jwt, 200),
        (bearer(expired), 401),
        (bearer(unscoped), 401),
    ]
    for headers, status in cases:
        r = await c.get(f"{API}/cascade/mq-info", headers=headers)
        assert r.status_code == status, (headers, r.text)
        assert "detail" in r.json() or status == 200
    # Partner credentials open /cascade only.
    for headers in (KEY, good_jwt):
        r = await c.get(f"{API}/users/me", headers=headers)
        assert r.status_code == 401


async def test_mq_info(partner_client: httpx.AsyncClient) -> None:
    r = await partner_client.get(f"{API}/cascade/mq-info/", headers=KEY)
    info = r.json()
    assert info["host"] == "mq.example.com" and info["port"] == 5673
    assert info["vhost"] == "partners"
    assert (info["username"], info["password"]) == ("partner", "p@ss")
    assert info["exchange"] == "im.events" and info["exchange_type"] == "topic"
    assert "user.user_registered.*" in info["routing_keys"]
    assert info["routing_key_format"] == "<category>.<event_type>.<aggregate_id>"
    fmt = info["message_format"]
    assert (fmt["name"], fmt["version"], fmt["content_type"]) == ("envelope", 1, "application/json")
    assert fmt["json_schema"]["properties"]["version"]["const"] == 1
    assert info["partner_queue"] == "im.partner.users"
    assert info["dead_letter_queue"] == "im.partner.users.dlq"


async def test_mq_info_never_shows_the_internal_password(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "d", amqp_url="amqp://svc:topsecret@rabbit:5672/", partner_api_keys=API_KEY
    )
    application = create_app(settings, cascade=False)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get(f"{API}/cascade/mq-info", headers=KEY)
            # This process does not run the relay: /ready reports its saved checkpoint.
            relay = (await c.get("/ready")).json()["relay"]
            assert relay == {"position": 0, "lag": 0, "connected": None, "error": None}
    info = r.json()
    assert info["enabled"] is True and info["host"] == "rabbit" and info["vhost"] == "/"
    assert info["password"] is None and info["username"] is None
    assert "topsecret" not in r.text


def users(*items: dict[str, Any]) -> dict[str, Any]:
    return {"users": list(items)}


async def test_sync_is_an_idempotent_upsert(partner_client: httpx.AsyncClient) -> None:
    c = partner_client
    a, b, d = unique("a"), unique("b"), unique("d")
    body = users(
        {"standard_id": a, "name": "Alice", "platform_id": "p-1"},
        {"standard_id": b, "name": "Bob", "password": "bobs-password"},
        {"standard_id": d, "name": "Dora", "is_active": False},
    )
    r = await c.post(f"{API}/cascade/sync/users", json=body, headers=KEY)
    assert r.status_code == 200, r.text
    first = r.json()
    assert (first["created"], first["updated"], first["unchanged"], first["errors"]) == (
        3,
        0,
        0,
        [],
    )
    position = await head(c)
    again = (await c.post(f"{API}/cascade/sync/users", json=body, headers=KEY)).json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert [x["id"] for x in again["users"]] == [x["id"] for x in first["users"]]
    assert await head(c) == position  # nothing appended the second time

    # The created users are real users: searchable; no password login without a password.
    _, viewer = await new_user(c)
    found = (await c.get(f"{API}/users/search", params={"keyword": a}, headers=viewer)).json()
    assert [(x["standard_id"], x["name"], x["is_active"]) for x in found] == [(a, "Alice", True)]
    login = f"{API}/auth/login/access-token"
    for sid, pw, status in [(a, "whatever1", 400), (a, "!", 400), (b, "bobs-password", 200)]:
        r = await c.post(login, data={"username": sid, "password": pw})
        assert r.status_code == status, sid
    r = await c.post(login, data={"username": d, "password": "whatever1"})
    assert r.status_code == 400

    # Rename, reactivate, and leave one unchanged; the password of an existing user is untouched.
    body = users(
        {"standard_id": a.upper(), "name": "Alice Liddell"},
        {"standard_id": b, "name": "Bob", "password": "another-password"},
        {"standard_id": d, "name": "Dora", "is_active": True},
    )
    r = (await c.post(f"{API}/cascade/sync/users", json=body, headers=KEY)).json()
    assert (r["created"], r["updated"], r["unchanged"]) == (0, 2, 1)
    assert [x["result"] for x in r["users"]] == ["updated", "unchanged", "updated"]
    me = await c.get(f"{API}/users/{first['users'][0]['id']}", headers=viewer)
    assert me.json()["name"] == "Alice Liddell" and me.json()["standard_id"] == a
    assert (await c.post(login, data={"username": b, "password": "bobs-password"})).is_success
    assert (await c.post(login, data={"username": d, "password": "x" * 8})).status_code == 400


async def test_sync_reports_bad_entries_and_goes_on(partner_client: httpx.AsyncClient) -> None:
    c = partner_client
    ok, twice = unique("ok"), unique("tw")
    body = users(
        {"standard_id": "bad id!", "name": "x"},
        {"standard_id": ok, "name": " "},
        {"standard_id": ok, "name": "Okay"},
        {"standard_id": twice, "name": "First"},
        {"standard_id": twice, "name": "Second"},
        {"standard_id": ROOT, "name": "Not root any more"},
        {"standard_id": unique("pw"), "name": "Short", "password": "123"},
    )
    r = await c.post(f"{API}/cascade/sync/users", json=body, headers=KEY)
    assert r.status_code == 200
    out = r.json()
    assert [e["index"] for e in out["errors"]] == [0, 1, 5, 6]
    assert "standard_id" in out["errors"][0]["detail"]
    assert "superuser" in out["errors"][2]["detail"]
    assert (out["created"], out["updated"]) == (2, 1)  # same standard_id: in request order
    assert [x["result"] for x in out["users"]] == ["created", "created", "updated"]


async def test_sync_validation(partner_client: httpx.AsyncClient) -> None:
    c = partner_client
    url = f"{API}/cascade/sync/users"
    too_many = users(*({"standard_id": f"u{i}", "name": "x"} for i in range(1001)))
    for body in [too_many, {"users": "nope"}, {}, users({"standard_id": 5, "name": "x"})]:
        r = await c.post(url, json=body, headers=KEY)
        assert r.status_code == 422, body
        assert isinstance(r.json()["detail"], list)
    r = await c.post(url, content=b"{not json", headers=KEY)
    assert r.status_code == 422
    r = await c.post(url, json=users(), headers=KEY)
    assert r.json() == {"created": 0, "updated": 0, "unchanged": 0, "errors": [], "users": []}


async def test_serves_while_the_broker_is_down(tmp_path: Path) -> None:
    """The event store is the outbox: chat keeps working, the relay retries and reports it."""
    settings = make_settings(
        tmp_path / "d", amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    )
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            await new_user(c)

            async def reported() -> bool:
                r = await c.get("/ready")
                relay = r.json()["relay"]
                return r.status_code == 200 and relay["error"] is not None

            await wait_until(reported)
            relay = (await c.get("/ready")).json()["relay"]
            assert relay["connected"] is False and relay["lag"] > 0
            assert "im_relay_connected 0.0" in (await c.get("/metrics")).text


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=server_env(tmp_path / "cli", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_partner_token_cli(tmp_path: Path, partner_client: httpx.AsyncClient) -> None:
    done = run_cli(
        tmp_path,
        "admin",
        "partner-token",
        "acme",
        "--days",
        "2",
        IM_PARTNER_JWT_SECRET=PARTNER_SECRET,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    claims = jwt.decode(token, PARTNER_SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["scope"]) == ("acme", "cascade")
    assert claims["exp"] - claims["iat"] == 2 * 86400
    r = await partner_client.get(f"{API}/cascade/mq-info", headers=bearer(token))
    assert r.status_code == 200
    missing = run_cli(tmp_path, "admin", "partner-token", "acme")
    assert missing.returncode == 2 and "IM_PARTNER_JWT_SECRET" in missing.stderr


def test_relay_cli_needs_a_broker_url(tmp_path: Path) -> None:
    done = run_cli(tmp_path, "relay")
    assert done.returncode == 2 and "IM_AMQP_URL" in done.stderr
