"""Auth and users through HTTP: registration, login, me, search, statuses, errors."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import httpx
import jwt

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, new_user, register, token_for, unique, wait_until


async def test_register_login_me(client: httpx.AsyncClient) -> None:
    user, headers = await new_user(client, name="Zhang San")
    r = await client.get(f"{API}/users/me", headers=headers)
    assert r.status_code == 200
    assert r.json() == user
    assert user["created_at"].endswith("Z")


async def test_login_accepts_multipart(client: httpx.AsyncClient) -> None:
    user = await register(client)
    r = await client.post(
        f"{API}/auth/login/access-token",
        files={"username": (None, user["standard_id"]), "password": (None, PASSWORD)},
    )
    assert r.status_code == 200
    assert r.json()["token_type"] == "bearer"


async def test_token_claims(client: httpx.AsyncClient, settings: Settings) -> None:
    user = await register(client)
    token = await token_for(client, user["standard_id"])
    claims = jwt.decode(token, settings.jwt_secret, algorithms=["HS256"])
    assert claims["sub"] == str(user["id"])
    assert claims["exp"] - claims["iat"] == 11520 * 60


async def test_wrong_password_is_400_not_401(client: httpx.AsyncClient) -> None:
    user = await register(client)
    for username, password in [(user["standard_id"], "wrong-pw"), (unique(), PASSWORD)]:
        r = await client.post(
            f"{API}/auth/login/access-token", data={"username": username, "password": password}
        )
        assert r.status_code == 400
        assert r.json() == {
            "detail": "Incorrect username or password",
            "message": "Incorrect username or password",
        }


async def test_duplicate_standard_id_case_insensitive(client: httpx.AsyncClient) -> None:
    user = await register(client)
    r = await client.post(
        f"{API}/users",
        json={"standard_id": user["standard_id"].upper(), "name": "x", "password": PASSWORD},
    )
    assert r.status_code == 400


async def test_search_and_get(client: httpx.AsyncClient) -> None:
    marker = unique("m")
    user, headers = await new_user(client, name=f"Li {marker} Si")
    r = await client.get(f"{API}/users/search", params={"keyword": marker.upper()}, headers=headers)
    assert [u["id"] for u in r.json()] == [user["id"]]
    by_id = {"keyword": str(user["id"])}
    r = await client.get(f"{API}/users/search", params=by_id, headers=headers)
    assert user["id"] in [u["id"] for u in r.json()]
    r = await client.get(f"{API}/users/{user['id']}", headers=headers)
    assert r.json()["standard_id"] == user["standard_id"]
    r = await client.get(f"{API}/users/987654321", headers=headers)
    assert r.status_code == 404


async def test_statuses_all_offline_without_sockets(client: httpx.AsyncClient) -> None:
    user, headers = await new_user(client)
    r = await client.post(f"{API}/users/statuses", json={"user_ids": [user["id"]]}, headers=headers)
    assert r.json() == {"statuses": {str(user["id"]): False}}


async def test_bad_tokens_are_401(client: httpx.AsyncClient, settings: Settings) -> None:
    now = int(time.time())
    expired = jwt.encode({"sub": "1", "iat": now - 100, "exp": now - 10}, settings.jwt_secret)
    foreign = jwt.encode({"sub": "1", "iat": now, "exp": now + 100}, "another-secret-" * 3)
    for header in [
        None,
        "Bearer",
        "Bearer garbage",
        f"Bearer {expired}",
        f"Bearer {foreign}",
        "Basic abc",
    ]:
        headers = {"Authorization": header} if header else {}
        r = await client.get(f"{API}/users/me", headers=headers)
        assert r.status_code == 401, header
        assert "detail" in r.json()


async def test_validation_errors_are_422(client: httpx.AsyncClient) -> None:
    cases = [
        b"{not json",
        b'{"standard_id": 5, "name": "x", "password": "secret1"}',
        b'{"standard_id": "", "name": "x", "password": "secret1"}',
        b'{"standard_id": "has space", "name": "x", "password": "secret1"}',
        b'{"standard_id": "abc", "name": "x", "password": "short"}',
        b'{"standard_id": "abc", "name": "' + b"x" * 101 + b'", "password": "secret1"}',
        b"[]",
    ]
    for body in cases:
        r = await client.post(f"{API}/users/", content=body)
        assert r.status_code == 422, body
        assert isinstance(r.json()["detail"], list)


async def test_trailing_slash_never_redirects(client: httpx.AsyncClient) -> None:
    _, headers = await new_user(client)
    for path in ["/users/me", "/users/me/"]:
        r = await client.get(API + path, headers=headers)
        assert r.status_code == 200


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{API}/nothing-here")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found", "message": "Not Found"}


async def test_cors_preflight(client: httpx.AsyncClient) -> None:
    r = await client.options(
        f"{API}/users/me",
        headers={"Origin": "https://chat.example", "Access-Control-Request-Method": "GET"},
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "https://chat.example")


async def test_write_returns_position_and_reads_wait_for_it(client: httpx.AsyncClient) -> None:
    _, headers = await new_user(client)
    r = await client.post(
        f"{API}/users/", json={"standard_id": unique(), "name": "P", "password": PASSWORD}
    )
    position = int(r.headers["x-event-position"])
    assert position > 0
    r = await client.get(f"{API}/users/me", headers={**headers, "X-Min-Position": str(position)})
    assert r.status_code == 200
    # A read asking for a position not written yet waits for it, then answers with it included.
    # (A registration appends two events: the standard id's claim, then the user.)
    name = unique("Later")
    wanted = {**headers, "X-Min-Position": str(position + 2)}
    search = asyncio.create_task(
        client.get(f"{API}/users/search", params={"keyword": name}, headers=wanted)
    )
    await asyncio.sleep(0.05)
    assert not search.done()  # still waiting: nothing has been written after ``position``
    body = {"standard_id": unique(), "name": name, "password": PASSWORD}
    later = await client.post(f"{API}/users/", json=body)
    assert int(later.headers["x-event-position"]) == position + 2
    r = await search
    assert r.status_code == 200, r.text
    assert [u["id"] for u in r.json()] == [later.json()["id"]]


async def test_a_read_that_cannot_catch_up_in_time_is_503(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", read_wait_seconds=0.2)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            _, headers = await new_user(client)
            far = {**headers, "X-Min-Position": str(10**15)}
            r = await client.get(f"{API}/users/me", headers=far)
            assert r.status_code == 503
            assert r.headers["retry-after"].isdigit()
            assert "caught up" in r.json()["detail"]
            bad = await client.get(f"{API}/users/me", headers={**headers, "X-Min-Position": "x"})
            assert bad.status_code == 400
            assert "X-Min-Position" in bad.json()["detail"]


async def test_operations_endpoints(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    metrics = await client.get("/metrics")
    assert "im_projector_position" in metrics.text
    await new_user(client)  # every follower has something to follow

    async def followers_caught_up() -> bool:
        body = (await client.get("/ready")).json()
        followers = body["followers"]
        assert set(followers) == {"projector", "notification-policy", "system-lines", "pusher"}
        return all(f["lag"] == 0 and f["position"] == body["head"] for f in followers.values())

    await wait_until(followers_caught_up)
    metrics = await client.get("/metrics")
    for name in ("projector", "notification-policy", "system-lines", "pusher"):
        assert f'im_follower_lag_events{{follower="{name}"}} 0.0' in metrics.text
        assert f'im_follower_failures{{follower="{name}"}} 0.0' in metrics.text
    spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/users/me" in spec["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_cors_headers_on_cross_origin_requests_only(client: httpx.AsyncClient) -> None:
    _, headers = await new_user(client)
    r = await client.get(f"{API}/users/me", headers={**headers, "Origin": "https://chat.example"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "https://chat.example")
    assert "x-event-position" in r.headers["access-control-expose-headers"].lower()
    r = await client.get(f"{API}/users/me", headers=headers)
    assert "access-control-allow-origin" not in r.headers


async def test_errors_carry_message_with_the_detail_text(client: httpx.AsyncClient) -> None:
    user = await register(client)
    body = {"standard_id": user["standard_id"], "name": "again", "password": PASSWORD}
    r = await client.post(f"{API}/users", json=body)
    assert r.status_code == 400
    assert r.json()["message"] == r.json()["detail"] and r.json()["detail"]
    r = await client.post(f"{API}/users", json={"standard_id": "x"})
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list)
    assert r.json()["message"] == ", ".join(issue["msg"] for issue in r.json()["detail"])


async def test_token_payloads_decode_with_plain_base64(client: httpx.AsyncClient) -> None:
    """The previous system's web client reads ``exp`` with ``atob``, which rejects ``-``/``_``."""
    for _ in range(20):
        user = await register(client)
        token = await token_for(client, user["standard_id"])
        payload = token.split(".")[1]
        assert "-" not in payload and "_" not in payload
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.b64decode(padded, validate=True))
        assert isinstance(claims["exp"], int) and claims["sub"] == str(user["id"])
