"""Abuse suite: access that must end, and operational endpoints that need a credential."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.app import create_app
from tests.conftest import make_settings

METRICS_TOKEN = "metrics-" + "m" * 24


async def test_metrics_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data", metrics_token=METRICS_TOKEN))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/metrics")).status_code == 401
            for wrong in ("Bearer nope", f"Basic {METRICS_TOKEN}", f"Bearer {METRICS_TOKEN}x"):
                r = await c.get("/metrics", headers={"Authorization": wrong})
                assert r.status_code == 401, wrong
                assert "IM_METRICS_TOKEN" in r.json()["detail"]
            r = await c.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
            assert r.status_code == 200 and "im_" in r.text
            assert (await c.get("/health")).status_code == 200  # health stays open


async def test_metrics_are_public_without_a_token(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/metrics")).status_code == 200
