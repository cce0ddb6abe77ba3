"""``/conversations`` through HTTP: single and group chats, settings, members, hide, clear."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx

from tests.e2e.chat_helpers import conversation, group, history, sent, users
from tests.helpers import API, wait_until

C = f"{API}/conversations"


async def test_single_chat_is_one_per_pair(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb) = await users(client, 2)
    r = await client.post(f"{C}/single", json={"target_user_id": b["id"]}, headers=ha)
    assert r.status_code == 201
    conv = r.json()
    assert conv["type"] == "single" and conv["member_count"] == 2
    assert conv["name"] == b["name"]  # a single chat is named after the other person
    assert {p["id"] for p in conv["participants"]} == {a["id"], b["id"]}
    r = await client.post(f"{C}/single", json={"target_user_id": a["id"]}, headers=hb)
    assert r.status_code == 200
    assert r.json()["id"] == conv["id"] and r.json()["name"] == a["name"]


async def test_single_chat_created_at_once_by_both(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb) = await users(client, 2)
    calls = [
        client.post(f"{C}/single", json={"target_user_id": t["id"]}, headers=h)
        for _ in range(4)
        for t, h in ((b, ha), (a, hb))
    ]
    results = await asyncio.gather(*calls)
    assert all(r.status_code in (200, 201) for r in results), [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert sorted(r.status_code for r in results) == [200] * 7 + [201]


async def test_single_chat_bad_targets(client: httpx.AsyncClient) -> None:
    ((a, ha),) = await users(client, 1)
    r = await client.post(f"{C}/single", json={"target_user_id": a["id"]}, headers=ha)
    assert r.status_code == 400
    r = await client.post(f"{C}/single", json={"target_user_id": 987654321}, headers=ha)
    assert r.status_code == 404
    r = await client.post(f"{C}/single", json={"target_user_id": "x"}, headers=ha)
    assert r.status_code == 422


async def test_group_creation_and_detail(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb), (_, hc) = await users(client, 3)
    g = await group(
        client, ha, [b["id"], b["id"], a["id"]], name="Crew", description="d", is_public=True
    )
    assert g["type"] == "group" and g["name"] == "Crew" and g["is_public"] is True
    assert g["creator_id"] == a["id"] and g["member_count"] == 2
    assert g["status"] == "active" and g["max_members"] == 500
    assert g["last_seq"] == 1 and g["last_message"]["message_type"] == "system"
    assert g["unread_count"] == 0  # the creator wrote the "created" line
    seen = await conversation(client, hb, g["id"])
    assert seen["unread_count"] == 1
    r = await client.get(f"{C}/{g['id']}", headers=hc)
    assert r.status_code == 403
    r = await client.get(f"{C}/987654321", headers=ha)
    assert r.status_code == 404
    members = (await client.get(f"{C}/{g['id']}/members", headers=hb)).json()
    roles = {m["user_id"]: m["role"] for m in members}
    assert roles == {a["id"]: "owner", b["id"]: "member"}
    assert members[0]["user_name"] == a["name"] and members[0]["id"] == a["id"]


async def test_group_validation(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, _) = await users(client, 2)
    bad = [
        {"name": "", "member_ids": [b["id"]]},
        {"name": "x" * 101, "member_ids": [b["id"]]},
        {"name": "x", "member_ids": []},
        {"name": "x", "member_ids": [b["id"]], "max_members": 1},
        {"name": "x", "member_ids": [b["id"]], "max_members": 1001},
        {"member_ids": [b["id"]]},
    ]
    for body in bad:
        r = await client.post(f"{C}/group", json=body, headers=ha)
        assert r.status_code == 422, body
    r = await client.post(f"{C}/group", json={"name": "x", "member_ids": [987654]}, headers=ha)
    assert r.status_code == 404
    r = await client.post(f"{C}/group", json={"name": "   ", "member_ids": [b["id"]]}, headers=ha)
    assert r.status_code == 400
    many = [u["id"] for u, _ in await users(client, 2)]
    body = {"name": "x", "member_ids": [b["id"], *many], "max_members": 2}
    r = await client.post(f"{C}/group", json=body, headers=ha)
    assert r.status_code == 400


async def test_list_is_newest_activity_first_with_unread(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g1 = await group(client, ha, [b["id"]], name="one")
    g2 = await group(client, ha, [b["id"]], name="two")
    await sent(client, hb, g1["id"], "bump")
    listed = (await client.get(f"{C}/", headers=ha)).json()
    assert [c["id"] for c in listed][:2] == [g1["id"], g2["id"]]
    assert listed[0]["unread_count"] == 1 and listed[0]["last_message"]["content"] == "bump"
    assert (await client.get(C, headers=ha)).status_code == 200  # no trailing slash either


async def test_update_settings_permissions(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    r = await client.put(f"{C}/{g['id']}", json={"name": "Renamed"}, headers=hb)
    assert r.status_code == 403
    r = await client.put(
        f"{C}/{g['id']}", json={"name": "Renamed", "allow_member_modify": True}, headers=ha
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed"
    assert r.json()["allow_member_modify"] is True
    r = await client.put(f"{C}/{g['id']}", json={"description": "by b"}, headers=hb)
    assert r.status_code == 200 and r.json()["description"] == "by b"
    r = await client.put(f"{C}/{g['id']}", json={"max_members": 1}, headers=ha)
    assert r.status_code == 422
    lines = [m["content"] for m in await history(client, ha, g["id"])]
    assert lines[-1] == f"{a['name']} renamed the group to Renamed"
    single = await client.post(f"{C}/single", json={"target_user_id": b["id"]}, headers=ha)
    r = await client.put(f"{C}/{single.json()['id']}", json={"name": "x"}, headers=ha)
    assert r.status_code == 400


async def test_add_and_remove_members(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb), (c, hc), (d, _hd) = await users(client, 4)
    g = await group(client, ha, [b["id"]], max_members=3)
    r = await client.post(f"{C}/{g['id']}/members", json={"user_ids": [c["id"]]}, headers=hb)
    assert r.status_code == 200 and r.json()["member_count"] == 3  # allow_invite is on
    r = await client.post(
        f"{C}/{g['id']}/members", json={"user_ids": [c["id"], b["id"]]}, headers=ha
    )
    assert r.status_code == 200 and r.json()["member_count"] == 3  # members are skipped
    r = await client.post(f"{C}/{g['id']}/members", json={"user_ids": [d["id"]]}, headers=ha)
    assert r.status_code == 400  # over max_members
    assert (await conversation(client, hc, g["id"]))["unread_count"] == 1  # "... added c"
    r = await client.delete(f"{C}/{g['id']}/members/{c['id']}", headers=hb)
    assert r.status_code == 403  # a plain member removes only themselves
    r = await client.delete(f"{C}/{g['id']}/members/{a['id']}", headers=ha)
    assert r.status_code == 400  # the owner transfers ownership first
    r = await client.delete(f"{C}/{g['id']}/members/{c['id']}", headers=ha)
    assert r.status_code == 200 and r.json()["member_count"] == 2
    r = await client.get(f"{C}/{g['id']}", headers=hc)
    assert r.status_code == 403
    r = await client.delete(f"{C}/{g['id']}/members/{b['id']}", headers=hb)
    assert r.status_code == 200  # leaving answers with the conversation
    assert r.json()["member_count"] == 1
    r = await client.delete(f"{C}/{g['id']}/members/{d['id']}", headers=ha)
    assert r.status_code == 404
    lines = [m["content"] for m in await history(client, ha, g["id"])]
    assert lines[1:] == [
        f"{b['name']} added {c['name']}",
        f"{a['name']} removed {c['name']}",
        f"{b['name']} left the group",
    ]
    seqs = [m["seq"] for m in await history(client, ha, g["id"])]
    assert seqs == [1, 2, 3, 4]


async def test_roles_and_ownership_transfer(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb), (c, _hc) = await users(client, 3)
    g = await group(client, ha, [b["id"], c["id"]])
    url = f"{C}/{g['id']}/members"
    r = await client.put(f"{url}/{c['id']}", json={"role": "admin"}, headers=hb)
    assert r.status_code == 403
    r = await client.put(f"{url}/{b['id']}", json={"role": "admin"}, headers=ha)
    assert r.status_code == 200 and r.json()["role"] == "admin"
    r = await client.put(f"{url}/{a['id']}", json={"status": "muted"}, headers=hb)
    assert r.status_code == 400  # the owner cannot be muted
    r = await client.delete(f"{url}/{a['id']}", headers=hb)
    assert r.status_code == 403  # an admin removes only plain members
    r = await client.put(f"{url}/{c['id']}", json={"role": "owner"}, headers=hb)
    assert r.status_code == 403  # only the owner transfers
    r = await client.put(f"{url}/{c['id']}", json={"role": "owner"}, headers=ha)
    assert r.status_code == 200 and r.json()["role"] == "owner"
    roles = {m["user_id"]: m["role"] for m in (await client.get(url, headers=ha)).json()}
    assert roles == {a["id"]: "admin", b["id"]: "admin", c["id"]: "owner"}
    lines = [m["content"] for m in await history(client, ha, g["id"])]
    assert lines[-1] == f"{a['name']} transferred ownership to {c['name']}"
    r = await client.delete(f"{url}/{a['id']}", headers=ha)
    assert r.status_code == 200  # the former owner may leave now


async def test_settings_and_member_limits_are_refused_before_any_rule(
    client: httpx.AsyncClient,
) -> None:
    (_a, ha), (b, _) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    for bad in ({"name": "x" * 101}, {"name": ""}, {"max_members": 1001}, {"max_members": "9"}):
        r = await client.put(f"{C}/{g['id']}", json=bad, headers=ha)
        assert r.status_code == 422, bad
    r = await client.put(f"{C}/{g['id']}", json={"name": " \t "}, headers=ha)
    assert (r.status_code, r.json()["detail"]) == (400, "name must be 1-100 characters")
    url = f"{C}/{g['id']}/members/{b['id']}"
    for bad in ({"nickname": "n" * 101}, {"role": "boss"}, {"status": "away"}):
        r = await client.put(url, json=bad, headers=ha)
        assert r.status_code == 422, bad
    r = await client.put(url, json={"nickname": " " + "n" * 99}, headers=ha)
    assert r.status_code == 200 and r.json()["nickname"] == "n" * 99


async def test_mute_nickname_and_expiry(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"], c["id"]])
    url = f"{C}/{g['id']}/members"
    r = await client.put(f"{url}/{b['id']}", json={"status": "muted"}, headers=ha)
    assert r.status_code == 200 and r.json()["status"] == "muted"
    r = await client.post(
        f"{API}/messages/text", json={"conversation_id": g["id"], "content": "x"}, headers=hb
    )
    assert r.status_code == 403
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.6)
    r = await client.put(
        f"{url}/{b['id']}", json={"status": "muted", "muted_until": soon.isoformat()}, headers=ha
    )
    assert r.status_code == 200 and r.json()["muted_until"].endswith("Z")

    async def unmuted() -> bool:
        members = (await client.get(url, headers=ha)).json()
        return any(m["user_id"] == b["id"] and m["status"] == "active" for m in members)

    await wait_until(unmuted, timeout=5)
    member = (await client.put(f"{url}/{b['id']}", json={}, headers=ha)).json()
    assert member["status"] == "active" and member["muted_until"] is None
    await sent(client, hb, g["id"], "free again")
    r = await client.put(f"{url}/{c['id']}", json={"nickname": "Cee"}, headers=hb)
    assert r.status_code == 403  # nickname: self or owner
    r = await client.put(f"{url}/{c['id']}", json={"nickname": "Cee"}, headers=hc)
    assert r.status_code == 200 and r.json()["nickname"] == "Cee"
    r = await client.put(f"{url}/{c['id']}", json={"nickname": None}, headers=ha)
    assert r.json()["nickname"] is None
    r = await client.put(f"{url}/{c['id']}", json={"status": "sleepy"}, headers=ha)
    assert r.status_code == 422


async def test_dissolve_group(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    await sent(client, hb, g["id"], "before")
    assert (await client.delete(f"{C}/{g['id']}", headers=hb)).status_code == 403
    assert (await client.delete(f"{C}/{g['id']}", headers=ha)).status_code == 204
    assert (await conversation(client, hb, g["id"]))["status"] == "dissolved"
    assert [m["content"] for m in await history(client, hb, g["id"])][-1] == "before"
    r = await client.post(
        f"{API}/messages/text", json={"conversation_id": g["id"], "content": "x"}, headers=hb
    )
    assert r.status_code == 403
    r = await client.put(f"{C}/{g['id']}", json={"name": "zombie"}, headers=ha)
    assert r.status_code == 400
    r = await client.delete(f"{C}/{g['id']}/members/{b['id']}", headers=hb)
    assert r.status_code == 200  # leaving is still possible, and writes no history line
    assert [m["content"] for m in await history(client, ha, g["id"])][-1] == "before"
    assert g["id"] not in [c["id"] for c in (await client.get(C, headers=hb)).json()]


async def test_hide_single_chat_until_new_message(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    cid = (await client.post(f"{C}/single", json={"target_user_id": b["id"]}, headers=ha)).json()[
        "id"
    ]
    await sent(client, hb, cid, "one")
    assert (await client.delete(f"{C}/{cid}", headers=ha)).status_code == 204
    assert cid not in [c["id"] for c in (await client.get(C, headers=ha)).json()]
    assert cid in [c["id"] for c in (await client.get(C, headers=hb)).json()]
    await sent(client, hb, cid, "two")
    listed = {c["id"]: c for c in (await client.get(C, headers=ha)).json()}
    assert listed[cid]["unread_count"] == 1  # hiding read "one"
    await client.delete(f"{C}/{cid}", headers=ha)
    r = await client.post(f"{C}/single", json={"target_user_id": b["id"]}, headers=ha)
    assert r.status_code == 200
    assert cid in [c["id"] for c in (await client.get(C, headers=ha)).json()]


async def test_clear_history_for_caller_only(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    await sent(client, hb, g["id"], "old")
    assert (await client.post(f"{C}/{g['id']}/clear", headers=ha)).status_code == 204
    assert await history(client, ha, g["id"]) == []
    assert len(await history(client, hb, g["id"])) == 2
    mine = await conversation(client, ha, g["id"])
    assert mine["last_message"] is None and mine["unread_count"] == 0
    await sent(client, hb, g["id"], "new")
    assert [m["content"] for m in await history(client, ha, g["id"])] == ["new"]
