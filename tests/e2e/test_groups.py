"""``/groups`` through HTTP: invite codes and joining, stats, public group search."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.e2e.chat_helpers import conversation, group, history, sent, users
from tests.helpers import API, unique

G = f"{API}/groups"


async def test_invite_codes_and_joining(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (c, hc), (_d, hd), (_e, he) = await users(client, 5)
    g = await group(client, ha, [b["id"]], max_members=4, allow_invite=False)
    r = await client.post(f"{G}/{g['id']}/invite-code", json={}, headers=hb)
    assert r.status_code == 403  # invites closed to plain members
    r = await client.post(f"{G}/{g['id']}/invite-code", json={"max_uses": 1}, headers=ha)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"invite_code", "expires_at", "max_uses"} and body["max_uses"] == 1
    expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - dt.datetime.now(dt.UTC)).total_seconds() - 168 * 3600) < 60
    code = body["invite_code"]
    r = await client.post(f"{G}/join", json={"invite_code": code}, headers=hc)
    assert r.status_code == 200 and r.json()["member_count"] == 3
    assert (await conversation(client, hc, g["id"]))["unread_count"] == 0  # own "... joined"
    assert [m["content"] for m in await history(client, hc, g["id"])][-1] == (
        f"{c['name']} joined the group with an invite code"
    )
    r = await client.post(f"{G}/join", json={"invite_code": code}, headers=hc)
    assert r.status_code == 200  # already a member
    r = await client.post(f"{G}/join", json={"invite_code": code}, headers=hd)
    assert r.status_code == 400  # used up
    r = await client.post(f"{G}/join", json={"invite_code": "no-such-code"}, headers=hd)
    assert r.status_code == 404
    open_code = (
        await client.post(f"{G}/{g['id']}/invite-code", json={"expires_in_hours": 1}, headers=ha)
    ).json()["invite_code"]
    assert (await client.post(f"{G}/join", json={"invite_code": open_code}, headers=hd)).is_success
    r = await client.post(f"{G}/join", json={"invite_code": open_code}, headers=he)
    assert r.status_code == 400  # full (max_members 4)
    bads = [
        {"expires_in_hours": 0},
        {"expires_in_hours": -1},
        {"expires_in_hours": 8760.5},
        {"max_uses": 0},
        {"max_uses": 1001},
    ]
    for bad in bads:
        r = await client.post(f"{G}/{g['id']}/invite-code", json=bad, headers=ha)
        assert r.status_code == 422, bad


async def test_group_members_routes(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, _hb), (c, _) = await users(client, 3)
    g = await group(client, ha, [b["id"]])
    r = await client.post(f"{G}/{g['id']}/members", json={"user_ids": [c["id"]]}, headers=ha)
    assert r.status_code == 200 and r.json()["member_count"] == 3
    r = await client.delete(f"{G}/{g['id']}/members/{c['id']}", headers=ha)
    assert r.status_code == 200 and r.json()["member_count"] == 2


async def test_stats(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"], c["id"]])
    await client.put(f"{API}/conversations/{g['id']}/members/{b['id']}", json={"role": "admin"},
                     headers=ha)  # fmt: skip
    await sent(client, hb, g["id"], "one")
    await sent(client, hb, g["id"], "two")
    r = await client.get(f"{G}/{g['id']}/stats", headers=hc)
    assert r.status_code == 200
    stats = r.json()
    assert stats["conversation_id"] == g["id"] and stats["member_count"] == 3
    assert stats["admin_count"] == 1 and stats["message_count"] == 3
    assert stats["active_members"] == 1  # only b sent (system lines do not count)
    assert stats["created_at"].endswith("Z") and stats["last_message_at"].endswith("Z")
    ((_, hx),) = await users(client, 1)
    assert (await client.get(f"{G}/{g['id']}/stats", headers=hx)).status_code == 403


async def test_public_group_search(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, _hb) = await users(client, 2)
    marker = unique("grp")
    pub = await group(client, ha, [b["id"]], name=f"Open {marker}", is_public=True,
                      description="for everyone")  # fmt: skip
    await group(client, ha, [b["id"]], name=f"Closed {marker}")
    gone = await group(client, ha, [b["id"]], name=f"Gone {marker}", is_public=True)
    await client.delete(f"{API}/conversations/{gone['id']}", headers=ha)
    ((_, hx),) = await users(client, 1)
    r = await client.get(f"{G}/search", params={"keyword": marker.upper()}, headers=hx)
    assert r.status_code == 200
    assert r.json() == [
        {"id": pub["id"], "name": f"Open {marker}", "description": "for everyone",
         "avatar": None, "member_count": 2}
    ]  # fmt: skip
    r = await client.get(f"{G}/search", params={"keyword": "x", "limit": 51}, headers=hx)
    assert r.status_code == 422
