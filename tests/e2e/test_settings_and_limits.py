"""Settings validation, closed registration, superuser bootstrap and rate limits."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import SettingsError, load_settings
from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, new_user, token_for, unique


def test_unknown_backend_lists_valid_ones() -> None:
    with pytest.raises(SettingsError, match="valid: sqlite, kurrentdb"):
        load_settings({"IM_EVENT_STORE": "cassandra"})
    with pytest.raises(SettingsError, match="valid: sqlite, mongo"):
        load_settings({"IM_READ_STORE": "redis"})


def test_production_needs_a_secret() -> None:
    with pytest.raises(SettingsError, match="IM_JWT_SECRET"):
        load_settings({"IM_DEV_MODE": "false"})
    with pytest.raises(SettingsError, match="IM_KURRENTDB_URL"):
        load_settings({"IM_EVENT_STORE": "kurrentdb"})
    with pytest.raises(SettingsError, match="IM_PORT"):
        load_settings({"IM_PORT": "eighty"})


async def test_closed_registration_needs_a_superuser(tmp_path: Path) -> None:
    admin = unique("admin")
    app = create_app(
        make_settings(
            tmp_path / "data",
            open_registration=False,
            first_superuser=admin,
            first_superuser_password=PASSWORD,
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            body = {"standard_id": unique(), "name": "N", "password": PASSWORD}
            assert (await c.post(f"{API}/users/", json=body)).status_code == 401
            token = await token_for(c, admin)
            headers = {"Authorization": f"Bearer {token}"}
            me = (await c.get(f"{API}/users/me", headers=headers)).json()
            assert me["is_superuser"] is True
            r = await c.post(f"{API}/users/", json=body, headers=headers)
            assert r.status_code == 201
            token2 = await token_for(c, body["standard_id"])
            r = await c.post(
                f"{API}/users/",
                json={"standard_id": unique(), "name": "N", "password": PASSWORD},
                headers={"Authorization": f"Bearer {token2}"},
            )
            assert r.status_code == 403


async def test_login_rate_limit_429_with_retry_after(tmp_path: Path) -> None:
    app = create_app(
        make_settings(tmp_path / "data", rate_limit_enabled=True, rate_limit_login_per_minute=3)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            statuses = []
            for _ in range(5):
                r = await c.post(
                    f"{API}/auth/login/access-token", data={"username": "x", "password": "y"}
                )
                statuses.append(r.status_code)
            assert statuses[:3] == [400, 400, 400]
            assert statuses[3] == 429
            assert int(r.headers["retry-after"]) >= 1
            assert r.json()["detail"]


async def test_write_rate_limit_per_user(tmp_path: Path) -> None:
    app = create_app(
        make_settings(tmp_path / "data", rate_limit_enabled=True, rate_limit_writes_per_minute=2)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            _, headers = await new_user(c)
            codes = [
                (
                    await c.post(f"{API}/users/statuses", json={"user_ids": [1]}, headers=headers)
                ).status_code
                for _ in range(3)
            ]
            assert codes == [200, 200, 200]  # statuses is a read: not write-limited
            body = {"standard_id": unique(), "name": "N", "password": PASSWORD}
            codes = []
            for _ in range(3):
                body["standard_id"] = unique()
                r = await c.post(f"{API}/users/", json=body, headers=headers)
                codes.append(r.status_code)
            assert codes[-1] == 429
