"""``Idempotency-Key`` on creating POSTs (the contract's Conventions)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.helpers import API, PASSWORD, ServerProcess, new_user, unique


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_repeated_key_answers_the_first_response(client: httpx.AsyncClient) -> None:
    (_, ha), (b, _) = await new_user(client), await new_user(client)
    body = {"name": "once", "member_ids": [b["id"]]}
    first = await client.post(f"{API}/conversations/group", json=body, headers=keyed(ha, "k1"))
    assert first.status_code == 201, first.text
    again = await client.post(f"{API}/conversations/group", json=body, headers=keyed(ha, "k1"))
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Event-Position"] == first.headers["X-Event-Position"]
    groups = (await client.get(f"{API}/conversations/", headers=ha)).json()
    assert [g["id"] for g in groups] == [first.json()["id"]]

    cid = first.json()["id"]
    msg = {"conversation_id": cid, "content": "hello"}
    sent = [
        await client.post(f"{API}/messages/text", json=msg, headers=keyed(ha, "m1"))
        for _ in range(3)
    ]
    assert {r.status_code for r in sent} == {201}
    assert len({r.json()["id"] for r in sent}) == 1
    history = (await client.get(f"{API}/messages/conversation/{cid}", headers=ha)).json()
    assert [m["content"] for m in history if m["message_type"] == "text"] == ["hello"]


async def test_the_same_key_with_another_body_is_422(client: httpx.AsyncClient) -> None:
    (_, ha), (b, _) = await new_user(client), await new_user(client)
    body = {"name": "one", "member_ids": [b["id"]]}
    first = await client.post(f"{API}/conversations/group", json=body, headers=keyed(ha, "k"))
    assert first.status_code == 201
    other = {"name": "two", "member_ids": [b["id"]]}
    r = await client.post(f"{API}/conversations/group", json=other, headers=keyed(ha, "k"))
    assert r.status_code == 422
    assert "different request" in r.json()["detail"]
    r = await client.post(f"{API}/messages/text", json={}, headers=keyed(ha, "k"))
    assert r.status_code == 422  # another route is another request too


async def test_keys_belong_to_their_caller(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb) = await new_user(client), await new_user(client)
    r1 = await client.post(
        f"{API}/conversations/group",
        json={"name": "x", "member_ids": [b["id"]]},
        headers=keyed(ha, "same"),
    )
    r2 = await client.post(
        f"{API}/conversations/group",
        json={"name": "x", "member_ids": [a["id"]]},
        headers=keyed(hb, "same"),
    )
    assert (r1.status_code, r2.status_code) == (201, 201)
    assert r1.json()["id"] != r2.json()["id"]


async def test_failures_are_not_kept_and_bad_keys_are_400(client: httpx.AsyncClient) -> None:
    _, ha = await new_user(client)
    bad = {"name": "g", "member_ids": [999_999]}
    r = await client.post(f"{API}/conversations/group", json=bad, headers=keyed(ha, "f"))
    assert r.status_code in (400, 404), r.text
    r = await client.post(f"{API}/conversations/group", json=bad, headers=keyed(ha, "f"))
    assert r.status_code in (400, 404)
    assert "Idempotent-Replayed" not in r.headers
    r = await client.post(f"{API}/conversations/group", json=bad, headers=keyed(ha, "x" * 256))
    assert r.status_code == 400


async def test_registration_and_upload_take_a_key(client: httpx.AsyncClient) -> None:
    sid = unique()
    body = {"standard_id": sid, "name": sid, "password": PASSWORD}
    first = await client.post(f"{API}/users/", json=body, headers={"Idempotency-Key": "reg"})
    again = await client.post(f"{API}/users/", json=body, headers={"Idempotency-Key": "reg"})
    assert (first.status_code, again.status_code) == (201, 201)  # not "already exists"
    assert again.json() == first.json()
    _, ha = await new_user(client)
    ups = [
        await client.post(
            f"{API}/files/upload", files={"file": ("a.txt", b"abc")}, headers=keyed(ha, "up")
        )
        for _ in range(2)
    ]
    assert [u.status_code for u in ups] == [201, 201]
    assert ups[0].json()["file_id"] == ups[1].json()["file_id"]


async def test_two_command_processes_agree_on_a_key(tmp_path: Path) -> None:
    data = tmp_path / "data"
    procs = [ServerProcess(data, command="commands") for _ in range(2)]
    try:
        for p in procs:
            p.start()
        async with (
            httpx.AsyncClient(base_url=procs[0].url, timeout=30) as one,
            httpx.AsyncClient(base_url=procs[1].url, timeout=30) as two,
        ):
            (_, ha), (b, _) = await new_user(one), await new_user(one)
            body = {"name": "race", "member_ids": [b["id"]]}
            answers = await asyncio.gather(
                *(
                    c.post(f"{API}/conversations/group", json=body, headers=keyed(ha, f"r{i}"))
                    for i in range(10)
                    for c in (one, two)
                )
            )
            by_key: dict[int, set[int]] = {}
            for i, r in enumerate(answers):
                if r.status_code == 201:
                    by_key.setdefault(i // 2, set()).add(r.json()["id"])
                else:  # the twin was still being processed
                    assert r.status_code == 409, r.text
            assert all(len(ids) == 1 for ids in by_key.values())
            assert len(by_key) == 10
    finally:
        for p in procs:
            p.stop()
