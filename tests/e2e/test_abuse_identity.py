"""Abuse suite: one spelling per identity (full-match validation, canonical JWT ``sub``)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings
from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, new_user, register, unique

API_KEY = "partner-key-" + "k" * 20


@pytest.fixture
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("identity") / "data", partner_api_keys=API_KEY)


@pytest.fixture
async def c(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: Starlette = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


# -- 3. full-match validation, one test per field ------------------------------------------------
@pytest.mark.parametrize("suffix", ["\n", "\r\n", " ", "\t"])
async def test_registration_refuses_a_standard_id_with_a_trailing_newline_or_space(
    c: httpx.AsyncClient, suffix: str
) -> None:
    sid = unique("rt")
    await register(c, sid)
    body = {"standard_id": sid + suffix, "name": "Impostor", "password": PASSWORD}
    r = await c.post(f"{API}/users/", json=body)
    assert r.status_code in (400, 422), r.text
    r = await c.post(
        f"{API}/auth/login/access-token", data={"username": sid + suffix, "password": PASSWORD}
    )
    assert r.status_code == 400  # no second account, and no login under another spelling


async def test_partner_sync_refuses_a_standard_id_with_a_trailing_newline(
    c: httpx.AsyncClient,
) -> None:
    sid = unique("sy")
    r = await c.post(
        f"{API}/cascade/sync/users",
        json={
            "users": [{"standard_id": sid + "\n", "name": "N"}, {"standard_id": sid, "name": "N"}]
        },
        headers={"X-API-Key": API_KEY},
    )
    assert r.status_code == 200, r.text
    result = r.json()
    assert result["created"] == 1
    assert [e["index"] for e in result["errors"]] == [0]
    assert "standard_id" in result["errors"][0]["detail"]


async def test_quiet_hours_refuse_a_trailing_newline(c: httpx.AsyncClient) -> None:
    _, h = await new_user(c)
    for field in ("quiet_hours_start", "quiet_hours_end"):
        other = "quiet_hours_end" if field == "quiet_hours_start" else "quiet_hours_start"
        body = {field: "22:30\n", other: "07:00"}
        r = await c.put(f"{API}/notifications/preferences/", json=body, headers=h)
        assert r.status_code in (400, 422), (field, r.text)
    prefs = (await c.get(f"{API}/notifications/preferences/", headers=h)).json()
    assert prefs["quiet_hours_start"] is None and prefs["quiet_hours_end"] is None


async def test_a_file_id_with_a_trailing_newline_is_not_the_file(c: httpx.AsyncClient) -> None:
    _, h = await new_user(c)
    files = {"file": ("a.txt", b"hello", "text/plain")}
    up = await c.post(f"{API}/files/upload", files=files, headers=h)
    assert up.status_code == 201, up.text
    fid = up.json()["file_id"]
    for path in ("info", "download", "download-info"):
        assert (await c.get(f"{API}/files/{path}/{fid}", headers=h)).status_code == 200
        r = await c.get(f"{API}/files/{path}/{fid}%0A", headers=h)
        assert r.status_code == 404, path


# -- 4. canonical JWT sub ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spelling",
    [
        "0{id}",  # leading zero
        "{arabic}",  # Arabic-Indic digits
        "{fullwidth}",  # fullwidth digits
        " {id}",
        "{id} ",
        "+{id}",
        "{id}\n",
        "{id}.0",
    ],
)
async def test_jwt_sub_must_be_the_canonical_ascii_integer(
    c: httpx.AsyncClient, settings: Settings, spelling: str
) -> None:
    user, _ = await new_user(c)
    uid = str(user["id"])
    arabic = uid.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    fullwidth = uid.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    now = int(time.time())

    def token(sub: str) -> dict[str, str]:
        claims = {"sub": sub, "iat": now, "exp": now + 600}
        return {"Authorization": f"Bearer {jwt.encode(claims, settings.jwt_secret)}"}

    good = await c.get(f"{API}/users/me", headers=token(uid))
    assert good.status_code == 200 and good.json()["id"] == user["id"]
    sub = spelling.format(id=uid, arabic=arabic, fullwidth=fullwidth)
    r = await c.get(f"{API}/users/me", headers=token(sub))
    assert r.status_code == 401, sub


async def test_jwt_sub_of_other_types_is_refused(c: httpx.AsyncClient, settings: Settings) -> None:
    user, _ = await new_user(c)
    now = int(time.time())
    for sub in (user["id"], [str(user["id"])], None, True):
        claims = {"sub": sub, "iat": now, "exp": now + 600}
        token = jwt.encode(claims, settings.jwt_secret)  # type: ignore[arg-type]
        r = await c.get(f"{API}/users/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, sub
