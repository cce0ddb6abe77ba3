"""Every chat endpoint as owner, admin, member, muted member, removed member, non-member and
anonymous: the contract's status codes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.e2e.chat_helpers import Headers, group, sent, users
from tests.helpers import API

ROLES = ("owner", "admin", "member", "muted", "removed", "outsider", "anonymous")
C, M, G = f"{API}/conversations", f"{API}/messages", f"{API}/groups"


class World:
    """Seven callers around one group (more groups on demand, same people)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.ids: dict[str, int] = {}
        self.h: dict[str, Headers] = {"anonymous": {}}

    async def setup(self) -> None:
        people = await users(self.client, 7)
        for role, (user, headers) in zip([*ROLES[:-1], "extra"], people, strict=True):
            self.ids[role] = user["id"]
            self.h[role] = headers

    async def group(self, **settings: Any) -> int:
        o, ids = self.h["owner"], self.ids
        members = [ids[r] for r in ("admin", "member", "muted", "removed", "extra")]
        cid: int = (await group(self.client, o, members, **settings))["id"]
        url = f"{C}/{cid}/members"
        for role, change in [("admin", {"role": "admin"}), ("muted", {"status": "muted"})]:
            r = await self.client.put(f"{url}/{ids[role]}", json=change, headers=o)
            assert r.status_code == 200, r.text
        r = await self.client.delete(f"{url}/{ids['removed']}", headers=o)
        assert r.status_code == 200
        return cid

    async def message(self, cid: int, role: str = "member") -> int:
        mid: int = (await sent(self.client, self.h[role], cid, "authz needle"))["id"]
        return mid


Call = Callable[[World, str], Awaitable[httpx.Response]]
MEMBERS_OK = {"owner": 200, "admin": 200, "member": 200, "muted": 200}
READ = {**MEMBERS_OK, "removed": 403, "outsider": 403}
MANAGERS = {
    "owner": 200,
    "admin": 200,
    "member": 403,
    "muted": 403,
    "removed": 403,
    "outsider": 403,
}
SENDERS = {"owner": 201, "admin": 201, "member": 201, "muted": 403, "removed": 403, "outsider": 403}


def _req(method: str, url: str, **kw: Any) -> Callable[[World, str], Awaitable[httpx.Response]]:
    async def call(w: World, role: str) -> httpx.Response:
        return await w.client.request(method, url, headers=w.h[role], **kw)

    return call


async def _on_group(w: World, role: str, method: str, path: str, **kw: Any) -> httpx.Response:
    cid = await w.group()
    return await w.client.request(method, path.format(cid=cid, **w.ids), headers=w.h[role], **kw)


def on_group(method: str, path: str, **kw: Any) -> Call:
    return lambda w, role: _on_group(w, role, method, path, **kw)


def on_closed_group(method: str, path: str, **kw: Any) -> Call:
    async def call(w: World, role: str) -> httpx.Response:
        cid = await w.group(allow_invite=False)
        url = path.format(cid=cid, **w.ids)
        return await w.client.request(method, url, headers=w.h[role], **kw)

    return call


def adding(prefix: str, invites: bool) -> Call:
    async def call(w: World, role: str) -> httpx.Response:
        cid = await w.group(allow_invite=invites)
        newcomer = (await users(w.client, 1))[0][0]["id"]
        body = {"user_ids": [newcomer]}
        return await w.client.post(f"{prefix}/{cid}/members", json=body, headers=w.h[role])

    return call


def on_message(method: str, path: str, author: str = "member", **kw: Any) -> Call:
    async def call(w: World, role: str) -> httpx.Response:
        cid = await w.group()
        mid = await w.message(cid, author)
        return await w.client.request(method, path.format(mid=mid), headers=w.h[role], **kw)

    return call


async def _join(w: World, role: str) -> httpx.Response:
    cid = await w.group()
    r = await w.client.post(f"{G}/{cid}/invite-code", json={}, headers=w.h["owner"])
    body = {"invite_code": r.json()["invite_code"]}
    return await w.client.post(f"{G}/join", json=body, headers=w.h[role])


async def _send_file(w: World, role: str) -> httpx.Response:
    cid = await w.group()
    up = await w.client.post(
        f"{API}/files/upload",
        files={"file": ("a.txt", b"abc")},
        data={"is_public": "true"},
        headers=w.h["owner"],
    )
    body = {"conversation_id": cid, "file_id": up.json()["file_id"]}
    return await w.client.post(f"{M}/file", json=body, headers=w.h[role])


def _all(status: int) -> dict[str, int]:
    return {r: status for r in ROLES[:-1]}


CASES: list[tuple[str, Call, dict[str, int]]] = [
    ("list", _req("GET", f"{C}/"), _all(200)),
    ("create single", lambda w, r: w.client.post(
        f"{C}/single", json={"target_user_id": w.ids["extra"]}, headers=w.h[r]),
     _all(201)),
    ("create group", lambda w, r: w.client.post(
        f"{C}/group", json={"name": "x", "member_ids": [w.ids["extra"]]}, headers=w.h[r]),
     _all(201)),
    ("detail", on_group("GET", C + "/{cid}"), READ),
    ("update", on_group("PUT", C + "/{cid}", json={"description": "x"}), MANAGERS),
    ("dissolve", on_group("DELETE", C + "/{cid}"),
     {**MANAGERS, "owner": 204, "admin": 403}),
    ("members", on_group("GET", C + "/{cid}/members"), READ),
    ("add members (invites open)", adding(C, invites=True), READ),
    ("add members (invites closed)", adding(C, invites=False), MANAGERS),
    ("remove member", on_group("DELETE", C + "/{cid}/members/{member}"),
     {**MANAGERS, "member": 200}),  # the member removes themselves
    ("remove other", on_group("DELETE", C + "/{cid}/members/{extra}"), MANAGERS),
    ("mute", on_group("PUT", C + "/{cid}/members/{member}", json={"status": "muted"}), MANAGERS),
    ("clear", on_group("POST", C + "/{cid}/clear"), {**READ, **dict.fromkeys(MEMBERS_OK, 204)}),
    ("send text", lambda w, r: _send(w, r, "text", {"content": "hi"}), SENDERS),
    ("send location", lambda w, r: _send(w, r, "location", {"latitude": 1, "longitude": 2}),
     SENDERS),
    ("send file", _send_file, SENDERS),
    ("history", on_group("GET", M + "/conversation/{cid}"), READ),
    ("mark read", lambda w, r: _send(w, r, "mark-read", {}),
     {**READ, **dict.fromkeys(MEMBERS_OK, 204)}),
    ("unread", lambda w, r: _on_group(w, r, "GET", M + "/unread/count?conversation_id={cid}"),
     READ),
    ("single message", on_message("GET", M + "/single/{mid}"), READ),
    ("edit", on_message("PUT", M + "/{mid}", json={"content": "new"}),
     {**READ, "owner": 403, "admin": 403, "muted": 403}),
    ("recall", on_message("POST", M + "/{mid}/recall"), {**READ, "muted": 403}),
    ("receipts", on_message("GET", M + "/{mid}/read-receipts"), READ),
    ("search", lambda w, r: _on_group(
        w, r, "GET", M + "/search?keyword=needle&conversation_id={cid}"), READ),
    ("typing", lambda w, r: _send(w, r, "typing", {}),
     {**SENDERS, **{k: 204 for k, v in SENDERS.items() if v == 201}}),
    ("groups add", adding(G, invites=True), READ),
    ("groups remove", on_group("DELETE", G + "/{cid}/members/{extra}"), MANAGERS),
    ("invite (open)", on_group("POST", G + "/{cid}/invite-code", json={}),
     {**MANAGERS, "member": 200, "muted": 200}),
    ("invite (closed)", on_closed_group("POST", G + "/{cid}/invite-code", json={}), MANAGERS),
    ("join", _join, {**_all(200), "removed": 403}),  # a removal bars rejoining by code
    ("invite codes", on_group("GET", G + "/{cid}/invite-codes"), MANAGERS),
    ("stats", on_group("GET", G + "/{cid}/stats"), READ),
    ("group search", _req("GET", f"{G}/search?keyword=x"), _all(200)),
]  # fmt: skip


async def _send(w: World, role: str, kind: str, body: dict[str, Any]) -> httpx.Response:
    cid = await w.group()
    return await w.client.post(f"{M}/{kind}", json={"conversation_id": cid, **body},
                               headers=w.h[role])  # fmt: skip


@pytest.mark.parametrize(("name", "call", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_matrix(
    client: httpx.AsyncClient, name: str, call: Call, expected: dict[str, int]
) -> None:
    world = World(client)
    await world.setup()
    got = {role: (await call(world, role)).status_code for role in ROLES}
    want = {**{r: s for r, s in expected.items() if r in ROLES}, "anonymous": 401}
    assert got == want
