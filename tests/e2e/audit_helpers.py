"""Helpers for the audit tests: an app with a superuser and an auditor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from gateway.app import create_app
from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, new_user, token_for

Headers = dict[str, str]
ROOT = "root_audit"
AUDIT = f"{API}/audit"


class AuditWorld:
    def __init__(
        self, app: Starlette, client: httpx.AsyncClient, root: Headers, auditor: Any, ah: Headers
    ) -> None:
        self.app = app
        self.client = client
        self.root = root
        self.auditor = auditor
        self.ah = ah

    async def get(self, path: str, **params: Any) -> Any:
        r = await self.client.get(f"{AUDIT}{path}", params=params, headers=self.ah)
        assert r.status_code == 200, r.text
        return r.json()


@asynccontextmanager
async def audit_world(data_dir: Path, **overrides: object) -> AsyncIterator[AuditWorld]:
    """An in-process app with superuser ``ROOT`` and a freshly granted auditor."""
    settings = make_settings(
        data_dir, first_superuser=ROOT, first_superuser_password=PASSWORD, **overrides
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            root = {"Authorization": f"Bearer {await token_for(c, ROOT)}"}
            auditor, ah = await new_user(c)
            r = await c.put(
                f"{API}/users/{auditor['id']}/auditor", json={"is_auditor": True}, headers=root
            )
            assert r.status_code == 200, r.text
            yield AuditWorld(app, c, root, auditor, ah)
