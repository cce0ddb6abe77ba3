"""Without a projector in the process (split deployment), a new user is authenticated at once."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.app import create_app
from projections.schema import USERS
from tests.conftest import make_settings
from tests.helpers import API, new_user


async def test_new_user_authenticates_before_projection(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path / "data"), inline_projector=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            user, headers = await new_user(c)
            # No projector runs here, so the read model has never seen this user.
            assert await app.state.process.queries.read.get(USERS, str(user["id"])) is None
            r = await c.get(f"{API}/users/me", headers=headers)
            assert r.status_code == 200
            assert r.json() == user
