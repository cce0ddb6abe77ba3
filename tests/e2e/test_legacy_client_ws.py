"""The previous system's web client's WebSocket, against a real server: ``/ws/{user_id}?token=
&v=``, and every frame it handles on the chat page, with the fields it reads (§3)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import ServerProcess, unique
from tests.ws import Live, live

BASE = "/api/legacy"
PASSWORD = "Secret123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(tmp_path_factory.mktemp("legacy-ws"), IM_TYPING_TIMEOUT_SECONDS="5").start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"X-Requested-With": "XMLHttpRequest", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=server.url + BASE, timeout=30, headers=headers) as c:
        yield c


async def person(http: httpx.AsyncClient, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    sid = unique("lw")[:20]
    r = await http.post("/users", json={"standard_id": sid, "name": name, "password": PASSWORD})
    assert r.status_code in (200, 201), r.text
    form = {"username": (None, sid), "password": (None, PASSWORD)}
    r = await http.post("/auth/login/access-token", files=form)
    token = r.json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    me = (await http.get("/users/me", headers=headers)).json()
    return me, headers


def client_socket(server: ServerProcess, me: dict[str, Any], headers: dict[str, str]) -> Any:
    """``${VITE_WS_BASE_URL}/ws/${user.id}?token=${encodeURIComponent(jwt)}&v=${Date.now()}``"""
    token = quote(headers["Authorization"].removeprefix("Bearer "), safe="")
    return live(server.url, token, path=f"/ws/{me['id']}", v=str(int(time.time() * 1000)))


async def expect(ws: Live, kind: str) -> dict[str, Any]:
    """The next ``kind`` frame's data; every frame on the way must nest its payload in ``data``
    (the client's handlers dereference ``msg.data || msg.payload``)."""
    while True:
        frame = await ws.next()
        assert isinstance(frame["data"], dict), frame
        if frame["type"] == kind:
            return frame["data"]  # type: ignore[no-any-return]


async def test_the_chat_page_frames(server: ServerProcess, http: httpx.AsyncClient) -> None:
    (a, ha), (b, hb), (c, _hc) = [await person(http, n) for n in ("Alice", "Bob", "Carol")]
    async with client_socket(server, a, ha) as wa:
        pong = await wa.ping()  # {"type": "ping"} every 30 s; the client only logs the answer
        assert pong["type"] == "pong"
        async with client_socket(server, b, hb) as wb:
            body = {
                "name": "项目组",
                "description": "",
                "member_ids": [a["id"]],
                "max_members": 500,
                "allow_invite": True,
                "allow_member_modify": False,
            }
            r = await http.post("/conversations/group", json=body, headers=hb)
            assert r.status_code == 201, r.text
            gid = r.json()["id"]
            created = await expect(wa, "conversation_created")
            assert created["creator_name"] == "Bob" and created["conversation_name"] == "项目组"
            assert created["conversation_id"] == gid and created["creator_id"] == b["id"]
            assert sorted(created["participant_ids"]) == sorted([a["id"], b["id"]])
            # b types on every keystroke, then sends: a sees typing on, the message, typing off
            for _ in range(3):
                r = await http.post(
                    "/messages/typing", json={"conversation_id": gid, "is_typing": True}, headers=hb
                )
                assert r.status_code == 204
            typing = await expect(wa, "typing")
            assert typing == {"conversation_id": gid, "user_id": b["id"], "is_typing": True}
            r = await http.post(
                "/messages/text", json={"conversation_id": gid, "content": "早"}, headers=hb
            )
            sent = r.json()
            started = time.monotonic()
            frames = []
            while True:
                frame = await wa.next()
                assert isinstance(frame["data"], dict), frame
                frames.append(frame)
                if frame["type"] == "typing" and not frame["data"]["is_typing"]:
                    break
            assert time.monotonic() - started < 2  # not the 5 s timeout
            new = next(f["data"] for f in frames if f["type"] == "new_message")
            assert new["message_id"] == new["id"] == sent["id"]
            assert new["conversation_id"] == gid and new["sender_id"] == b["id"]
            assert new["timestamp"] == new["created_at"] == sent["created_at"]
            assert new["content"] == "早" and new["message_type"] == "text"
            assert new["sender_name"] == "Bob" and new["status"] == "sent"
            # a opens the chat: history, then mark-read of everything loaded (own included)
            r = await http.get(f"/messages/conversation/{gid}", params={"limit": 50}, headers=ha)
            loaded = [m["id"] for m in r.json()["messages"]]
            r = await http.post(
                "/messages/mark-read",
                json={"conversation_id": gid, "message_ids": loaded},
                headers=ha,
            )
            assert r.status_code in (200, 204)
            read = await expect(wb, "mark_read")
            assert read["conversation_id"] == gid and sent["id"] in loaded
            assert read["message_ids"] == sorted(loaded, reverse=True)  # all b's, newest first
            # b adds c: member_added.added_user_ids is an array (the toast reads .length)
            r = await http.post(
                f"/conversations/{gid}/members", json={"user_ids": [c["id"]]}, headers=hb
            )
            assert r.status_code == 200, r.text
            added = await expect(wa, "member_added")
            assert added["added_user_ids"] == [c["id"]] and added["conversation_id"] == gid
            r = await http.delete(f"/conversations/{gid}/members/{c['id']}", headers=hb)
            removed = await expect(wa, "member_removed")
            assert removed["removed_user_id"] == c["id"] and removed["is_self_exit"] is False
        offline = await expect(wa, "user_status_changed")  # the only event for the green dots
        assert offline == {"user_id": b["id"], "is_online": False}
