"""Files shared through messages: visibility follows conversation membership; deletion shows."""

from __future__ import annotations

import httpx

from tests.e2e.chat_helpers import group, history, users
from tests.helpers import API

M = f"{API}/messages"


async def _upload(client: httpx.AsyncClient, h: dict[str, str], content: bytes) -> dict[str, str]:
    r = await client.post(f"{API}/files/upload", files={"file": ("plan.txt", content)}, headers=h)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _can_see(client: httpx.AsyncClient, h: dict[str, str], file_id: str) -> set[int]:
    codes = set()
    for path in ("info", "download", "download-info"):
        r = await client.get(f"{API}/files/{path}/{file_id}", headers=h)
        codes.add(r.status_code)
    return codes


async def test_membership_grants_and_removal_revokes(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"]])
    other = await group(client, hb, [c["id"]], name="Other")
    f = await _upload(client, ha, b"the plan")
    r = await client.post(f"{M}/file", json={"conversation_id": g["id"], "file_id": f["file_id"]},
                          headers=ha)  # fmt: skip
    assert r.status_code == 201, r.text

    # c is in no conversation the file was sent to: as if it did not exist
    assert await _can_see(client, hc, f["file_id"]) == {404}
    body = {"conversation_id": other["id"], "file_id": f["file_id"]}
    r = await client.post(f"{M}/file", json=body, headers=hc)
    assert r.status_code == 404
    assert await _can_see(client, hb, f["file_id"]) == {200}

    r = await client.post(
        f"{API}/conversations/{g['id']}/members", json={"user_ids": [c["id"]]}, headers=ha
    )
    assert r.status_code == 200, r.text
    assert await _can_see(client, hc, f["file_id"]) == {200}
    r = await client.get(f"{API}/files/download/{f['file_id']}", headers=hc)
    assert r.content == b"the plan"
    r = await client.post(f"{M}/file", json=body, headers=hc)  # c may now pass it on
    assert r.status_code == 201, r.text

    r = await client.delete(f"{API}/conversations/{g['id']}/members/{c['id']}", headers=ha)
    assert r.status_code == 200, r.text
    # still visible to c: it was also sent to `other`, where c is a member
    assert await _can_see(client, hc, f["file_id"]) == {200}
    r = await client.delete(f"{API}/conversations/{other['id']}/members/{c['id']}", headers=hc)
    assert r.status_code == 200, r.text
    assert await _can_see(client, hc, f["file_id"]) == {404}
    assert await _can_see(client, hb, f["file_id"]) == {200}


async def test_deleted_file_shows_in_messages_and_stops_downloading(
    client: httpx.AsyncClient,
) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    f = await _upload(client, ha, b"soon gone")
    body = {"conversation_id": g["id"], "file_id": f["file_id"]}
    r = await client.post(f"{M}/file", json=body, headers=ha)
    assert r.status_code == 201, r.text
    assert "deleted" not in r.json()["file_info"]

    r = await client.delete(f"{API}/files/{f['file_id']}", headers=hb)
    assert r.status_code == 403  # b sees it but did not upload it
    r = await client.delete(f"{API}/files/{f['file_id']}", headers=ha)
    assert r.status_code == 204
    last = (await history(client, hb, g["id"]))[-1]
    assert last["file_info"]["file_id"] == f["file_id"]
    assert last["file_info"]["deleted"] is True
    assert await _can_see(client, hb, f["file_id"]) == {404}
    assert await _can_see(client, ha, f["file_id"]) == {404}
    r = await client.post(f"{M}/file", json=body, headers=ha)
    assert r.status_code == 404
