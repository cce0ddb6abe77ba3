"""Routes get what they name as parameters, so a route runs over HTTP with fakes."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import HTTPConnection

from gateway.errors import EXCEPTION_HANDLERS
from gateway.http import Ctx, Edge, bind, routes_for
from gateway.metrics import Metrics
from gateway.routes import realtime, users
from gateway.settings import Settings, load_settings
from queries.views import User

ME = User(id=7, standard_id="me", name="Me", is_active=True, is_superuser=False, created_at="")


class FakeAuth:
    async def user_from_header(self, conn: HTTPConnection) -> User | None:
        return ME if conn.headers.get("authorization") else None


class FakePresence:
    def __init__(self, online: list[int]) -> None:
        self.online = online

    async def online_users(self) -> list[int]:
        return self.online

    async def statuses(self, user_ids: Iterable[int]) -> dict[int, bool]:
        return {u: u in self.online for u in user_ids}


async def _never(position: int) -> bool:
    raise AssertionError("a read without X-Min-Position does not wait")


def _settings(tmp_path: Path) -> Settings:
    return load_settings({}, data_dir=str(tmp_path), jwt_secret="s" * 40)


def _app(tmp_path: Path, module: object, path: str, deps: dict[str, object]) -> Starlette:
    specs = [s for s in module.api.routes if s.path.endswith(path)]  # type: ignore[attr-defined]
    edge = Edge(
        FakeAuth(),
        _settings(tmp_path),
        _never,
        wait_after_write=False,
        idempotency=None,  # type: ignore[arg-type]  # no command-side POST here
    )
    routes = [r for s in specs for r in routes_for(s, deps, edge, None, Metrics())]
    return Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]


async def test_a_route_runs_over_http_with_a_fake_dependency(tmp_path: Path) -> None:
    app = _app(tmp_path, realtime, "/online-users", {"presence": FakePresence([3, 1])})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/api/v1/realtime/online-users", headers={"Authorization": "Bearer x"})
        assert r.status_code == 200
        assert r.json() == {"online_users": [3, 1], "count": 2}
        r = await c.get("/api/v1/realtime/online-users")  # the edge still authenticates
        assert r.status_code == 401


async def test_a_post_route_decodes_its_body_before_the_fake_sees_it(tmp_path: Path) -> None:
    app = _app(tmp_path, users, "/statuses", {"presence": FakePresence([2])})
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": "Bearer x"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post("/api/v1/users/statuses", json={"user_ids": [1, 2]}, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["statuses"] == {"1": False, "2": True}
        r = await c.post("/api/v1/users/statuses", json={"user_ids": "x"}, headers=headers)
        assert r.status_code == 422


def test_a_dependency_nobody_provides_fails_at_start_up() -> None:
    async def handler(ctx: Ctx, presence: FakePresence, mailer: object) -> None:
        return None

    with pytest.raises(LookupError, match=r"asks for \['mailer'\]"):
        bind(handler, {"presence": FakePresence([])})


def test_a_dependency_of_the_wrong_class_fails_at_start_up() -> None:
    async def handler(ctx: Ctx, presence: FakePresence) -> None:
        return None

    with pytest.raises(TypeError, match="presence is not a FakePresence"):
        bind(handler, {"presence": object()})
    fake = FakePresence([])
    bound = bind(handler, {"presence": fake})
    assert isinstance(bound, functools.partial)
    assert bound.keywords == {"presence": fake}
