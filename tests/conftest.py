"""Shared fixtures: settings in a temporary folder, an in-process app, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings, load_settings
from tests.mongo import secantus_db, secantus_url  # noqa: F401  (shared SecantusDB fixtures)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    base: dict[str, object] = {
        "data_dir": str(data_dir),
        "jwt_secret": "test-secret-" + "x" * 40,
        "password_memory_kib": 1024,
        "rate_limit_enabled": False,
    }
    base.update(overrides)
    return load_settings({}, **base)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
