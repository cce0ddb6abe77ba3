"""Abuse suite: access through invite codes ends when it should (issue item 1)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.e2e.chat_helpers import Headers, group, sent, users
from tests.helpers import API

G = f"{API}/groups"


async def invite(c: httpx.AsyncClient, h: Headers, gid: int, **body: Any) -> str:
    r = await c.post(f"{G}/{gid}/invite-code", json=body, headers=h)
    assert r.status_code == 200, r.text
    code: str = r.json()["invite_code"]
    return code


async def join(c: httpx.AsyncClient, h: Headers, code: str) -> httpx.Response:
    return await c.post(f"{G}/join", json={"invite_code": code}, headers=h)


async def remove(c: httpx.AsyncClient, h: Headers, gid: int, uid: int) -> None:
    r = await c.delete(f"{API}/conversations/{gid}/members/{uid}", headers=h)
    assert r.status_code == 200, r.text


async def update(c: httpx.AsyncClient, h: Headers, gid: int, **body: Any) -> None:
    r = await c.put(f"{API}/conversations/{gid}", json=body, headers=h)
    assert r.status_code == 200, r.text


async def test_a_removed_member_cannot_come_back_with_an_old_code(
    client: httpx.AsyncClient,
) -> None:
    (_owner, ho), (mallory, hm), (other, hx) = await users(client, 3)
    g = await group(client, ho, [mallory["id"], other["id"]])
    code = await invite(client, ho, g["id"])
    await remove(client, ho, g["id"], mallory["id"])
    await sent(client, ho, g["id"], "said after the removal")
    r = await join(client, hm, code)
    assert r.status_code == 403, r.text
    assert "removed" in r.json()["detail"]
    fresh = await invite(client, ho, g["id"])  # no code at all lets them back
    assert (await join(client, hm, fresh)).status_code == 403
    r = await client.get(f"{API}/messages/conversation/{g['id']}", headers=hm)
    assert r.status_code == 403
    # A plain member may not add them back either, even with allow_invite on.
    r = await client.post(
        f"{API}/conversations/{g['id']}/members", json={"user_ids": [mallory["id"]]}, headers=hx
    )
    assert r.status_code == 403
    # The owner can; after that, a later removal by themselves (leaving) does not bar.
    r = await client.post(
        f"{API}/conversations/{g['id']}/members", json={"user_ids": [mallory["id"]]}, headers=ho
    )
    assert r.status_code == 200, r.text
    await remove(client, hm, g["id"], mallory["id"])  # leaves
    assert (await join(client, hm, fresh)).status_code == 200


async def test_codes_die_when_allow_invite_turns_off(client: httpx.AsyncClient) -> None:
    (_owner, ho), (member, hm), (_newcomer, hn) = await users(client, 3)
    g = await group(client, ho, [member["id"]])
    by_member = await invite(client, hm, g["id"])
    by_owner = await invite(client, ho, g["id"])
    await update(client, ho, g["id"], allow_invite=False)
    await update(client, ho, g["id"], allow_invite=True)  # turning it on again revives nothing
    for code in (by_member, by_owner):
        r = await join(client, hn, code)
        assert r.status_code == 400, r.text
        assert "no longer valid" in r.json()["detail"]
    assert (await join(client, hn, await invite(client, ho, g["id"]))).status_code == 200


async def test_codes_die_when_their_creator_leaves(client: httpx.AsyncClient) -> None:
    (_owner, ho), (leaver, hl), (_newcomer, hn) = await users(client, 3)
    g = await group(client, ho, [leaver["id"]])
    code = await invite(client, hl, g["id"])
    await remove(client, hl, g["id"], leaver["id"])
    r = await join(client, hn, code)
    assert r.status_code == 400 and "no longer valid" in r.json()["detail"]


async def test_a_demoted_creator_loses_their_codes(client: httpx.AsyncClient) -> None:
    (_owner, ho), (admin, ha), (_newcomer, hn) = await users(client, 3)
    g = await group(client, ho, [admin["id"]], allow_invite=False)
    r = await client.put(
        f"{API}/conversations/{g['id']}/members/{admin['id']}", json={"role": "admin"}, headers=ho
    )
    assert r.status_code == 200
    code = await invite(client, ha, g["id"])
    r = await client.put(
        f"{API}/conversations/{g['id']}/members/{admin['id']}", json={"role": "member"}, headers=ho
    )
    assert r.status_code == 200
    assert (await join(client, hn, code)).status_code == 400
    r = await client.put(
        f"{API}/conversations/{g['id']}/members/{admin['id']}", json={"role": "admin"}, headers=ho
    )
    assert (await join(client, hn, code)).status_code == 400  # dead for good


async def test_codes_are_listed_and_revoked_by_owner_or_admin(client: httpx.AsyncClient) -> None:
    (owner, ho), (member, hm), (_newcomer, hn) = await users(client, 3)
    g = await group(client, ho, [member["id"]])
    first = await invite(client, ho, g["id"], max_uses=3)
    second = await invite(client, hm, g["id"])
    r = await client.get(f"{G}/{g['id']}/invite-codes", headers=ho)
    assert r.status_code == 200, r.text
    listed = r.json()
    assert [x["invite_code"] for x in listed] == [first, second]
    assert listed[0]["created_by"] == owner["id"] and listed[0]["max_uses"] == 3
    assert listed[1]["created_by"] == member["id"] and listed[1]["uses"] == 0
    assert listed[0]["expires_at"].endswith("Z")
    assert (await client.get(f"{G}/{g['id']}/invite-codes", headers=hm)).status_code == 403
    assert (await client.get(f"{G}/{g['id']}/invite-codes", headers=hn)).status_code == 403
    assert (
        await client.delete(f"{G}/{g['id']}/invite-codes/{first}", headers=hm)
    ).status_code == 403
    assert (
        await client.delete(f"{G}/{g['id']}/invite-codes/{first}", headers=hn)
    ).status_code == 403
    r = await client.delete(f"{G}/{g['id']}/invite-codes/{first}", headers=ho)
    assert r.status_code == 204
    assert (await client.delete(f"{G}/{g['id']}/invite-codes/nope", headers=ho)).status_code == 404
    r = await join(client, hn, first)
    assert r.status_code == 400 and "no longer valid" in r.json()["detail"]
    assert (await join(client, hn, second)).status_code == 200
    listed = (await client.get(f"{G}/{g['id']}/invite-codes", headers=ho)).json()
    assert [(x["invite_code"], x["uses"]) for x in listed] == [(second, 1)]


async def test_codes_expire_and_run_out_of_uses(client: httpx.AsyncClient) -> None:
    (_owner, ho), (x, _), (_a, ha), (_b, hb) = await users(client, 4)
    g = await group(client, ho, [x["id"]])
    once = await invite(client, ho, g["id"], max_uses=1)
    assert (await join(client, ha, once)).status_code == 200
    r = await join(client, hb, once)
    assert r.status_code == 400 and "used up" in r.json()["detail"]
    brief = await invite(client, ho, g["id"], expires_in_hours=0.0002)  # 0.72 s
    await asyncio.sleep(1.0)
    r = await join(client, hb, brief)
    assert r.status_code == 400 and "expired" in r.json()["detail"]
