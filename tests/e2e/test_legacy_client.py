"""The previous system's web client on ``/api/legacy``: every [R] call of
``legacy-client.md`` replayed as the browser sends it (preflight, axios headers, multipart
login, slash-less paths, bodies exactly as sent), checking every field the client reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from tests.conftest import make_settings
from tests.helpers import unique

BASE = "/api/legacy"
ORIGIN = "http://127.0.0.1:4173"  # the client's static server (vite preview)
PASSWORD = "Secret123"  # the client requires lower case, upper case and a digit
FOREIGN_IDS_ARE_INTS = ("id", "conversation_id", "sender_id", "user_id", "creator_id")


class Browser:
    """One tab of the client: axios defaults, the token from localStorage, and the CORS
    preflight Chrome sends before each call (``X-Requested-With`` makes every call non-simple)."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.token: str | None = None
        self.me: dict[str, Any] = {}

    async def preflight(self, method: str, url: str, headers: list[str]) -> None:
        r = await self.http.options(
            url,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ",".join(headers),
            },
        )
        assert r.status_code == 200, (url, r.status_code, r.text)
        assert r.headers["access-control-allow-origin"] in ("*", ORIGIN)
        allowed = r.headers["access-control-allow-methods"].upper()
        assert method in allowed or "*" in allowed
        allowed_headers = r.headers["access-control-allow-headers"].lower()
        for h in headers:
            assert h in allowed_headers or "*" in allowed_headers, (h, allowed_headers)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        files: Any = None,
        params: dict[str, Any] | None = None,
        absolute: str | None = None,
    ) -> httpx.Response:
        url = absolute or BASE + path
        headers = {
            "Origin": ORIGIN,
            "Accept": "application/json, text/plain, */*",
            "X-Requested-With": "XMLHttpRequest",
        }
        asked = ["accept", "x-requested-with"]
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
            asked.append("authorization")
        content: bytes | None = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            asked.append("content-type")
            content = json.dumps(json_body).encode()
        await self.preflight(method, url, asked)
        r = await self.http.request(
            method, url, headers=headers, content=content, files=files, params=params
        )
        assert r.headers.get("access-control-allow-origin") in ("*", ORIGIN), (url, r.headers)
        return r

    async def ok(self, method: str, path: str, **kw: Any) -> Any:
        r = await self.call(method, path, **kw)
        assert 200 <= r.status_code < 300, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    async def register_and_login(self, name: str) -> dict[str, Any]:
        """RegisterForm: ``POST /users`` (no slash, no token), then the automatic login
        (multipart, as Chrome sends axios's FormData) and ``GET /users/me``."""
        sid = unique("lg")[:20]
        await self.ok(
            "POST", "/users", json_body={"standard_id": sid, "name": name, "password": PASSWORD}
        )
        await self.login(sid)
        return self.me

    async def login(self, standard_id: str, password: str = PASSWORD) -> None:
        form = {"username": (None, standard_id), "password": (None, password)}
        r = await self.call("POST", "/auth/login/access-token", files=form)
        assert r.status_code == 200, r.text
        assert r.request.headers["content-type"].startswith("multipart/form-data; boundary=")
        body = r.json()
        assert isinstance(body["access_token"], str) and body["token_type"] == "bearer"
        self.token = body["access_token"]
        me = await self.ok("GET", "/users/me")
        assert isinstance(me["id"], int) and me["standard_id"] == standard_id
        assert isinstance(me["name"], str) and me["is_active"] is True
        self.me = me


@pytest.fixture
async def http(tmp_path: Path) -> Any:
    app: Starlette = create_app(make_settings(tmp_path / "data"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
            yield c


async def two(http: httpx.AsyncClient) -> tuple[Browser, Browser]:
    a, b = Browser(http), Browser(http)
    await a.register_and_login("Alice 爱丽丝")
    await b.register_and_login("Bob")
    return a, b


def check_conversation_item(item: dict[str, Any], me: dict[str, Any]) -> None:
    """The fields ``GET /conversations`` items are read for (§2.5)."""
    assert isinstance(item["id"], int) and item["type"] in ("single", "group")
    assert item["name"] is None or isinstance(item["name"], str)
    assert "max_members" in item and isinstance(item["max_members"], int)
    assert isinstance(item["unread_count"], int)
    assert isinstance(item["creator_id"], int)
    assert item["updated_at"].endswith("Z")
    for p in item["participants"]:
        assert isinstance(p["id"], int) and isinstance(p["name"], str)
        assert isinstance(p["standard_id"], str) and isinstance(p["is_active"], bool)
    if item["type"] == "single":
        assert any(p["id"] != me["id"] for p in item["participants"])


def check_message(m: dict[str, Any]) -> None:
    """The Message fields the client reads (§5.6)."""
    for key in ("id", "conversation_id", "sender_id"):
        assert isinstance(m[key], int), key
    assert m["created_at"].endswith("Z")
    assert m["message_type"] in ("text", "file", "location", "system")
    assert isinstance(m["content"], str) and isinstance(m["status"], str)
    assert isinstance(m["sender_name"], str) and isinstance(m["sender_standard_id"], str)


async def test_register_login_and_me_as_the_client_sends_them(http: httpx.AsyncClient) -> None:
    a = Browser(http)
    me = await a.register_and_login("Alice")
    again = Browser(http)
    r = await again.call(
        "POST",
        "/users",
        json_body={"standard_id": me["standard_id"], "name": "x", "password": PASSWORD},
    )
    assert r.status_code == 400 and r.json()["detail"]  # "用户已存在" branch reads detail
    assert r.json()["message"] == r.json()["detail"]  # the interceptor's toast text
    form = {"username": (None, me["standard_id"]), "password": (None, "Wrong123")}
    r = await again.call("POST", "/auth/login/access-token", files=form)
    assert r.status_code == 400 and isinstance(r.json()["detail"], str)  # never 401 here
    # the documented urlencoded form works too
    r = await http.post(
        f"{BASE}/auth/login/access-token",
        data={"username": me["standard_id"], "password": PASSWORD},
    )
    assert r.status_code == 200 and r.json()["access_token"]


async def test_user_search_both_dialogs(http: httpx.AsyncClient) -> None:
    a, b = await two(http)
    for params in ({"keyword": b.me["standard_id"], "limit": 10}, {"keyword": "bob"}):
        found = await a.ok("GET", "/users/search", params=params)
        assert isinstance(found, list)  # a bare array: ``.filter`` is called on it
        hit = next(u for u in found if u["id"] == b.me["id"])
        assert hit["name"] == "Bob" and hit["standard_id"] == b.me["standard_id"]


async def test_single_chat_list_detail_history_and_send(http: httpx.AsyncClient) -> None:
    a, b = await two(http)
    conv = await a.ok("POST", "/conversations/single", json_body={"target_user_id": b.me["id"]})
    check_conversation_item(conv, a.me)
    assert conv["participants"]  # the header's name for a single chat
    same = await a.ok("POST", "/conversations/single", json_body={"target_user_id": b.me["id"]})
    assert same["id"] == conv["id"]
    listed = await a.ok("GET", "/conversations")
    assert isinstance(listed, list) and [c["id"] for c in listed] == [conv["id"]]
    check_conversation_item(listed[0], a.me)
    detail = await a.ok("GET", f"/conversations/{conv['id']}")
    check_conversation_item(detail, a.me)
    page = await a.ok("GET", f"/messages/conversation/{conv['id']}", params={"limit": 50})
    assert page == {"messages": [], "has_more": False, "limit": 50}
    sent = await a.ok(
        "POST", "/messages/text", json_body={"conversation_id": conv["id"], "content": "你好"}
    )
    check_message(sent)
    assert sent["content"] == "你好" and sent["sender_id"] == a.me["id"]
    # b's list: unread 1, and updated_at is the last activity (the message), not the creation
    (item,) = await b.ok("GET", "/conversations")
    check_conversation_item(item, b.me)
    assert item["unread_count"] == 1
    assert item["updated_at"] == sent["created_at"] >= item["created_at"]
    assert item["participants"][0]["name"] in ("Alice 爱丽丝", "Bob")
    # the post-login unread sync, then the open: limit=20 and limit=50, newest first page
    page = await b.ok("GET", f"/messages/conversation/{conv['id']}", params={"limit": 20})
    assert [m["id"] for m in page["messages"]] == [sent["id"]]
    check_message(page["messages"][0])
    # mark-read of everything loaded, own messages and unknown ids included (§2.18)
    mine = await b.ok(
        "POST", "/messages/text", json_body={"conversation_id": conv["id"], "content": "hi"}
    )
    ids = [sent["id"], mine["id"], 987654321]
    await b.ok(
        "POST", "/messages/mark-read", json_body={"conversation_id": conv["id"], "message_ids": ids}
    )
    (item,) = await b.ok("GET", "/conversations")
    assert item["unread_count"] == 0


async def test_history_cursors_and_has_more(http: httpx.AsyncClient) -> None:
    a, b = await two(http)
    conv = await a.ok("POST", "/conversations/single", json_body={"target_user_id": b.me["id"]})
    cid = conv["id"]
    sent = [
        await a.ok("POST", "/messages/text", json_body={"conversation_id": cid, "content": f"m{i}"})
        for i in range(7)
    ]
    ids = [m["id"] for m in sent]
    path = f"/messages/conversation/{cid}"
    newest = await b.ok("GET", path, params={"limit": 3})
    assert [m["id"] for m in newest["messages"]] == ids[-3:]
    assert newest["has_more"] is True and newest["limit"] == 3
    everything = await b.ok("GET", path, params={"limit": 50})
    assert [m["id"] for m in everything["messages"]] == ids and everything["has_more"] is False
    older = await b.ok("GET", path, params={"limit": 3, "before": ids[4]})
    assert [m["id"] for m in older["messages"]] == ids[1:4] and older["has_more"] is True
    oldest = await b.ok("GET", path, params={"limit": 3, "before": ids[2]})
    assert [m["id"] for m in oldest["messages"]] == ids[:2] and oldest["has_more"] is False
    # after a reconnect: ``after=<last id>&limit=50``
    newer = await b.ok("GET", path, params={"limit": 50, "after": ids[4]})
    assert [m["id"] for m in newer["messages"]] == ids[5:] and newer["has_more"] is False
    newer = await b.ok("GET", path, params={"limit": 1, "after": ids[4]})
    assert [m["id"] for m in newer["messages"]] == [ids[5]] and newer["has_more"] is True
    # the documented cursor strings and the 清单's skip/limit
    cursor = await b.ok("GET", path, params={"limit": 2, "before_cursor": str(ids[3])})
    assert [m["id"] for m in cursor["messages"]] == ids[1:3]
    cursor = await b.ok("GET", path, params={"limit": 2, "after_cursor": str(ids[3])})
    assert [m["id"] for m in cursor["messages"]] == ids[4:6]
    skipped = await b.ok("GET", path, params={"limit": 2, "skip": 2})
    assert [m["id"] for m in skipped["messages"]] == ids[3:5]
    r = await b.call("GET", path, params={"before_cursor": "abc"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "before_cursor"]
    # /api/v1 keeps the brief's bare list
    r = await http.get(f"/api/v1{path}", headers={"Authorization": f"Bearer {b.token}"})
    assert isinstance(r.json(), list) and len(r.json()) == 7


async def test_group_members_roles_leave_and_kick(http: httpx.AsyncClient) -> None:
    a, b = await two(http)
    c = Browser(http)
    await c.register_and_login("Carol")
    d = Browser(http)
    await d.register_and_login("Dave")
    body = {
        "name": "团队",
        "description": "",
        "member_ids": [b.me["id"], c.me["id"]],
        "max_members": 500,
        "allow_invite": True,
        "allow_member_modify": False,
    }
    group = await a.ok("POST", "/conversations/group", json_body=body)
    check_conversation_item(group, a.me)
    gid = group["id"]
    assert group["name"] == "团队" and group["creator_id"] == a.me["id"]
    members = await a.ok("GET", f"/conversations/{gid}/members")
    assert isinstance(members, list)
    roles = {m["user_id"]: m["role"] for m in members}
    assert roles == {a.me["id"]: "owner", b.me["id"]: "member", c.me["id"]: "member"}
    for m in members:
        assert isinstance(m["id"], int) and m["joined_at"].endswith("Z")
        assert isinstance(m["user_name"], str) and isinstance(m["user_standard_id"], str)
        assert "nickname" in m
    alias = await a.ok("GET", "/conversation_members", params={"conversation_id": gid})
    assert alias == members
    await a.ok("POST", f"/conversations/{gid}/members", json_body={"user_ids": [d.me["id"]]})
    assert d.me["id"] in {m["user_id"] for m in await a.ok("GET", f"/conversations/{gid}/members")}
    await a.ok("PUT", f"/conversations/{gid}/members/{b.me['id']}", json_body={"role": "admin"})
    await a.ok("PUT", f"/conversations/{gid}/members/{c.me['id']}", json_body={"nickname": "小C"})
    members = {m["user_id"]: m for m in await b.ok("GET", f"/conversations/{gid}/members")}
    assert members[b.me["id"]]["role"] == "admin" and members[c.me["id"]]["nickname"] == "小C"
    await a.ok("PUT", f"/conversations/{gid}/members/{b.me['id']}", json_body={"role": "member"})
    # the admin-only button is gone for b again; a plain member cannot add
    r = await b.call("POST", f"/conversations/{gid}/members", json_body={"user_ids": [a.me["id"]]})
    assert r.status_code in (200, 403)
    # kick (owner) and leave (own id)
    await a.ok("DELETE", f"/conversations/{gid}/members/{d.me['id']}")
    await c.ok("DELETE", f"/conversations/{gid}/members/{c.me['id']}")
    assert [x["id"] for x in await c.ok("GET", "/conversations")] == []
    assert [x["id"] for x in await d.ok("GET", "/conversations")] == []
    r = await a.call("DELETE", f"/conversations/{gid}/members/{a.me['id']}")
    assert r.status_code == 400 and r.json()["message"] == r.json()["detail"]  # owner stays
    r = await d.call("GET", f"/conversations/{gid}/members")
    assert r.status_code == 403


async def test_delete_single_chat_and_clear_history(http: httpx.AsyncClient) -> None:
    a, b = await two(http)
    conv = await a.ok("POST", "/conversations/single", json_body={"target_user_id": b.me["id"]})
    cid = conv["id"]
    await a.ok("POST", "/messages/text", json_body={"conversation_id": cid, "content": "old"})
    r = await a.call("POST", f"/conversations/{cid}/clear")  # no body, no Content-Type
    assert r.status_code in (200, 204)
    page = await a.ok("GET", f"/messages/conversation/{cid}", params={"limit": 50})
    assert page["messages"] == []
    assert len((await b.ok("GET", f"/messages/conversation/{cid}"))["messages"]) == 1
    r = await a.call("DELETE", f"/conversations/{cid}")
    assert r.status_code in (200, 204)
    assert await a.ok("GET", "/conversations") == []  # hidden for a only
    assert [x["id"] for x in await b.ok("GET", "/conversations")] == [cid]
    r = await a.call("POST", f"/conversations/{cid + 1000}/clear")
    assert r.status_code == 404


async def test_upload_send_file_and_the_download_chain(http: httpx.AsyncClient) -> None:
    a, b = await two(http)
    conv = await a.ok("POST", "/conversations/single", json_body={"target_user_id": b.me["id"]})
    name = "截图-2026-12-01, 15:30:00.png"  # CJK, "-" and "," (§2.19)
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    up = await a.ok("POST", "/files/upload", files={"file": (name, png, "image/png")})
    assert isinstance(up["file_id"], str) and up["file_name"] == name
    assert up["file_size"] == len(png)
    body = {
        "conversation_id": conv["id"],
        "file_id": up["file_id"],
        "file_name": up["file_name"],
        "file_size": up["file_size"],
    }
    msg = await a.ok("POST", "/messages/file", json_body=body)
    check_message(msg)
    assert msg["message_type"] == "file"  # an image too: the client renders only "file"
    info = msg["file_info"]
    assert info["file_id"] == up["file_id"] and info["name"] == name
    assert info["size"] == len(png) and isinstance(info["id"], int)
    # b downloads: download-info, then the absolute download_url with baseURL ''
    di = await b.ok("GET", f"/files/download-info/{up['file_id']}")
    assert di["file_id"] == up["file_id"] and di["file_name"] == name
    assert di["file_size"] == len(png) and isinstance(di["file_type"], str)
    assert di["download_url"].startswith("http://api.test/")
    r = await b.call("GET", "", absolute=di["download_url"])
    assert r.status_code == 200 and r.content == png
    r = await b.call("GET", f"/files/download/{up['file_id']}")  # fallback 4
    assert r.status_code == 200 and r.content == png
    # an image sent by an /api/v1 client shows as a file bubble here (the client renders only
    # "file"), its kind kept in file_kind
    r = await http.post(
        "/api/v1/messages/file",
        json={**body, "message_type": "image"},
        headers={"Authorization": f"Bearer {a.token}"},
    )
    assert r.status_code == 201 and r.json()["message_type"] == "image"
    page = await b.ok("GET", f"/messages/conversation/{conv['id']}")
    assert [m["message_type"] for m in page["messages"]] == ["file", "file"]
    assert [m.get("file_kind") for m in page["messages"]] == [None, "image"]


async def test_typing_on_every_keystroke_is_never_limited(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path / "data", rate_limit_enabled=True, rate_limit_writes_per_minute=5
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as c:
            a, b = await two(c)
            conv = await a.ok(
                "POST", "/conversations/single", json_body={"target_user_id": b.me["id"]}
            )
            for _ in range(30):
                body = {"conversation_id": conv["id"], "is_typing": True}
                r = await a.call("POST", "/messages/typing", json_body=body)
                assert r.status_code == 204


async def test_online_users(http: httpx.AsyncClient) -> None:
    a, _ = await two(http)
    online = await a.ok("GET", "/realtime/online-users")
    assert isinstance(online["online_users"], list) and isinstance(online["count"], int)


async def test_location_and_other_coded_calls(http: httpx.AsyncClient) -> None:
    """[C] calls: rename, location (string coordinates), recall, message search."""
    a, b = await two(http)
    body = {
        "name": "g",
        "description": "",
        "member_ids": [b.me["id"]],
        "max_members": 500,
        "allow_invite": True,
        "allow_member_modify": False,
    }
    group = await a.ok("POST", "/conversations/group", json_body=body)
    gid = group["id"]
    renamed = await a.ok("PUT", f"/conversations/{gid}", json_body={"name": "新名"})
    assert renamed["name"] == "新名" and "max_members" in renamed
    loc = await a.ok(
        "POST",
        "/messages/location",
        json_body={"conversation_id": gid, "latitude": "39.9042", "longitude": "116.4074"},
    )
    assert loc["message_type"] == "location" and loc["latitude"] == "39.9042"
    assert loc["longitude"] == "116.4074" and loc["content"]
    text = await a.ok(
        "POST", "/messages/text", json_body={"conversation_id": gid, "content": "findme"}
    )
    found = await a.ok(
        "GET", "/messages/search", params={"conversation_id": gid, "keyword": "findme", "limit": 50}
    )
    assert isinstance(found, list) and [m["id"] for m in found] == [text["id"]]
    recalled = await a.ok("POST", f"/messages/{text['id']}/recall")
    assert recalled["status"] == "recalled"
    statuses = await a.ok("POST", "/users/statuses", json_body={"user_ids": [b.me["id"]]})
    assert statuses == {"statuses": {str(b.me["id"]): False}}
    status = await a.ok("GET", f"/realtime/user-status/{b.me['id']}")
    assert status["user_id"] == b.me["id"] and status["is_online"] is False
