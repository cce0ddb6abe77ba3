"""``/messages`` through HTTP: sending, history cursors, reads, edits, recalls, search, typing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domain.signals import Typing
from gateway.app import create_app
from tests.conftest import make_settings
from tests.e2e.chat_helpers import conversation, group, history, send, sent, users
from tests.helpers import API

M = f"{API}/messages"


async def test_send_text_shape(client: httpx.AsyncClient) -> None:
    (a, ha), (b, _) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    r = await send(client, ha, g["id"], "hello there", client_msg_id="c-1")
    assert r.status_code == 201
    m = r.json()
    assert set(m) == {
        "id", "conversation_id", "seq", "sender_id", "sender_name", "sender_standard_id",
        "message_type", "content", "status", "reply_to_id", "client_msg_id", "file_info",
        "latitude", "longitude", "address", "created_at", "updated_at", "edited_at",
        "recalled_at",
    }  # fmt: skip
    assert m["seq"] == 2 and m["sender_name"] == a["name"]
    assert m["sender_standard_id"] == a["standard_id"] and m["status"] == "sent"
    assert m["message_type"] == "text" and m["created_at"].endswith("Z")
    assert m["file_info"] is None and m["client_msg_id"] == "c-1"
    assert (await client.get(f"{M}/single/{m['id']}", headers=ha)).json() == m


async def test_send_validation(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, _) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    for body in [
        {"conversation_id": g["id"], "content": ""},
        {"conversation_id": g["id"], "content": "x" * 5001},
        {"conversation_id": g["id"], "content": "x", "client_msg_id": "c" * 65},
        {"conversation_id": "one", "content": "x"},
        {"content": "x"},
    ]:
        r = await client.post(f"{M}/text", json=body, headers=ha)
        assert r.status_code == 422, body
    assert (await send(client, ha, g["id"], "x" * 5000)).status_code == 201
    r = await send(client, ha, g["id"], " \n ")
    assert (r.status_code, r.json()["detail"]) == (400, "content must not be empty")
    r = await send(client, ha, g["id"], "x", client_msg_id="c" * 64)
    assert r.status_code == 201 and r.json()["client_msg_id"] == "c" * 64
    for key in ("", "c" * 65):
        body = {"conversation_id": g["id"], "file_id": "0" * 32, "client_msg_id": key}
        assert (await client.post(f"{M}/file", json=body, headers=ha)).status_code == 422, key
        body = {"conversation_id": g["id"], "latitude": 0, "longitude": 0, "client_msg_id": key}
        assert (await client.post(f"{M}/location", json=body, headers=ha)).status_code == 422, key
    assert (await send(client, ha, 987654321, "x")).status_code == 404
    r = await send(client, ha, g["id"], "re", reply_to_id=987654321)
    assert r.status_code == 400


async def test_reply_and_location(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    first = await sent(client, ha, g["id"], "question")
    r = await send(client, hb, g["id"], "answer", reply_to_id=first["id"])
    assert r.status_code == 201 and r.json()["reply_to_id"] == first["id"]
    body = {"conversation_id": g["id"], "latitude": "31.2304", "longitude": 121.4737}
    r = await client.post(f"{M}/location", json={**body, "address": "Shanghai"}, headers=hb)
    assert r.status_code == 201
    loc = r.json()
    assert loc["message_type"] == "location" and loc["latitude"] == 31.2304
    assert loc["longitude"] == 121.4737 and loc["address"] == "Shanghai"
    assert "Shanghai" in loc["content"]
    for lat, lon in [("91", 0), (0, 181), (-90.1, 0), (0, "-180.1"), ("north", 0), ("nan", 0)]:
        bad = {"conversation_id": g["id"], "latitude": lat, "longitude": lon}
        r = await client.post(f"{M}/location", json=bad, headers=hb)
        assert r.status_code == 422, (lat, lon)


async def test_idempotent_send(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    first = await send(client, ha, g["id"], "once", client_msg_id="k1")
    again = await send(client, ha, g["id"], "once", client_msg_id="k1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    other = await send(client, hb, g["id"], "once", client_msg_id="k1")  # another sender
    assert other.status_code == 201
    assert [m["seq"] for m in await history(client, ha, g["id"])] == [1, 2, 3]


async def test_history_cursors(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, _) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    ids = {}
    for i in range(2, 12):
        ids[i] = (await sent(client, ha, g["id"], f"m{i}"))["id"]

    def seqs(ms: list[dict[str, Any]]) -> list[int]:
        return [m["seq"] for m in ms]

    assert seqs(await history(client, ha, g["id"])) == list(range(1, 12))
    assert seqs(await history(client, ha, g["id"], limit=3)) == [9, 10, 11]
    assert seqs(await history(client, ha, g["id"], limit=3, skip=2)) == [7, 8, 9]
    assert seqs(await history(client, ha, g["id"], after_seq=4, limit=3)) == [5, 6, 7]
    assert seqs(await history(client, ha, g["id"], before_seq=4)) == [1, 2, 3]
    assert seqs(await history(client, ha, g["id"], after_seq=3, before_seq=6)) == [4, 5]
    assert seqs(await history(client, ha, g["id"], after=ids[9])) == [10, 11]
    assert seqs(await history(client, ha, g["id"], before=ids[3], limit=5)) == [1, 2]
    assert await history(client, ha, g["id"], after_seq=11) == []
    r = await client.get(f"{M}/conversation/{g['id']}", params={"limit": 201}, headers=ha)
    assert r.status_code == 422
    r = await client.get(f"{M}/conversation/{g['id']}", params={"after": 987654}, headers=ha)
    assert r.status_code == 400


async def test_mark_read_and_unread_counts(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    msgs = [await sent(client, ha, g["id"], f"m{i}") for i in range(4)]  # seqs 2..5

    async def unread(h: dict[str, str], **p: Any) -> httpx.Response:
        return await client.get(f"{M}/unread/count", params=p, headers=h)

    assert (await unread(hb, conversation_id=g["id"])).json() == {
        "unread_count": 5,
        "conversation_id": g["id"],
    }

    async def mark(h: dict[str, str], **b: Any) -> httpx.Response:
        return await client.post(
            f"{M}/mark-read", json={"conversation_id": g["id"], **b}, headers=h
        )

    assert (await mark(hb, message_id=msgs[1]["id"])).status_code == 204
    assert (await unread(hb, conversation_id=g["id"])).json()["unread_count"] == 2
    await mark(hb, message_ids=[msgs[0]["id"], 987654])  # backwards and unknown: ignored
    assert (await unread(hb, conversation_id=g["id"])).json()["unread_count"] == 2
    await mark(hb, seq=4)
    assert (await unread(hb, conversation_id=g["id"])).json()["unread_count"] == 1
    await sent(client, hb, g["id"], "mine")  # own messages are never unread...
    assert (await unread(hb, conversation_id=g["id"])).json()["unread_count"] == 0
    await sent(client, ha, g["id"], "later")
    assert (await unread(hb)).json() == {"unread_count": 1, "conversation_id": None}
    await mark(hb)  # nothing given: the latest
    assert (await unread(hb)).json()["unread_count"] == 0
    # a's "later" moved a's watermark past b's "mine": replying reads what came before
    assert (await conversation(client, ha, g["id"]))["unread_count"] == 0
    members = (await client.get(f"{API}/conversations/{g['id']}/members", headers=ha)).json()
    assert {m["user_id"]: m["last_read_seq"] for m in members}[b["id"]] == 7
    ((_, hc),) = await users(client, 1)
    assert (await mark(hc)).status_code == 403
    assert (await unread(hc, conversation_id=g["id"])).status_code == 403


async def test_read_receipts(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"], c["id"]])
    m = await sent(client, ha, g["id"], "read me")
    await client.post(f"{M}/mark-read", json={"conversation_id": g["id"]}, headers=hb)
    r = await client.get(f"{M}/{m['id']}/read-receipts", headers=hc)
    body = r.json()
    assert body["message_id"] == m["id"] and body["read_count"] == 1
    assert [x["user_id"] for x in body["receipts"]] == [b["id"]]
    assert body["receipts"][0]["user_name"] == b["name"]
    assert body["receipts"][0]["read_at"].endswith("Z")
    assert body["unread_user_ids"] == [c["id"]] and body["total"] == 2
    ((_, hd),) = await users(client, 1)
    assert (await client.get(f"{M}/{m['id']}/read-receipts", headers=hd)).status_code == 403


async def test_edit_rules(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    m = await sent(client, hb, g["id"], "tpyo")
    r = await client.put(f"{M}/{m['id']}", json={"content": "typo"}, headers=ha)
    assert r.status_code == 403  # sender only, even for the owner
    r = await client.put(f"{M}/{m['id']}", json={"content": "typo"}, headers=hb)
    assert r.status_code == 200
    edited = r.json()
    assert edited["status"] == "edited" and edited["content"] == "typo"
    assert edited["edited_at"] is not None and edited["seq"] == m["seq"]
    system = (await history(client, ha, g["id"]))[0]
    r = await client.put(f"{M}/{system['id']}", json={"content": "x"}, headers=ha)
    assert r.status_code == 400  # text messages only
    assert (await client.put(f"{M}/987654", json={"content": "x"}, headers=ha)).status_code == 404
    for bad in ("", "x" * 5001):
        r = await client.put(f"{M}/{m['id']}", json={"content": bad}, headers=hb)
        assert r.status_code == 422
    r = await client.put(f"{M}/{m['id']}", json={"content": " \t"}, headers=hb)
    assert (r.status_code, r.json()["detail"]) == (400, "content must not be empty")


async def test_recall_rules(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"], c["id"]])
    m = await sent(client, hb, g["id"], "oops")
    assert (await client.post(f"{M}/{m['id']}/recall", headers=hc)).status_code == 403
    r = await client.post(f"{M}/{m['id']}/recall", headers=hb)
    assert r.status_code == 200
    assert r.json()["status"] == "recalled" and r.json()["content"] == ""
    assert r.json()["recalled_at"] is not None
    again = await client.post(f"{M}/{m['id']}/recall", headers=hb)
    assert again.status_code == 200 and again.json()["status"] == "recalled"
    r = await client.put(f"{M}/{m['id']}", json={"content": "x"}, headers=hb)
    assert r.status_code == 400
    other = await sent(client, hc, g["id"], "owner removes this")
    r = await client.post(f"{M}/{other['id']}/recall", headers=ha)  # the owner, any time
    assert r.status_code == 200


@pytest.fixture
async def short_windows(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        tmp_path / "w", message_edit_window_seconds=0, message_recall_window_seconds=0
    )
    app: Starlette = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            yield c


async def test_windows_close(short_windows: httpx.AsyncClient) -> None:
    client = short_windows
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    m = await sent(client, hb, g["id"], "late")
    r = await client.put(f"{M}/{m['id']}", json={"content": "x"}, headers=hb)
    assert r.status_code == 400
    assert (await client.post(f"{M}/{m['id']}/recall", headers=hb)).status_code == 400
    assert (await client.post(f"{M}/{m['id']}/recall", headers=ha)).status_code == 200


async def test_search(client: httpx.AsyncClient) -> None:
    (a, ha), (b, hb), (_c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"]])
    other = await group(client, hc, [a["id"]])
    hit = await sent(client, ha, g["id"], "The Blue Whale swims")
    await sent(client, hb, g["id"], "blue whales again")
    gone = await sent(client, hb, g["id"], "blue whale to recall")
    await client.post(f"{M}/{gone['id']}/recall", headers=hb)
    await sent(client, hc, other["id"], "blue whale elsewhere")
    found = (await client.get(f"{M}/search", params={"keyword": "BLUE WHALE"}, headers=hb)).json()
    assert [m["content"] for m in found] == ["blue whales again", "The Blue Whale swims"]
    found = (await client.get(f"{M}/search", params={"keyword": "bl"}, headers=hb)).json()
    assert len(found) == 2  # short keywords work too
    params = {"keyword": "whale", "conversation_id": other["id"]}
    assert (await client.get(f"{M}/search", params=params, headers=hb)).status_code == 403
    mine = (await client.get(f"{M}/search", params={"keyword": "whale"}, headers=ha)).json()
    assert len(mine) == 3 and hit["id"] in [m["id"] for m in mine]
    paged = await client.get(
        f"{M}/search", params={"keyword": "whale", "skip": 1, "limit": 1}, headers=ha
    )
    assert [m["id"] for m in paged.json()] == [mine[1]["id"]]
    await client.post(f"{API}/conversations/{g['id']}/clear", headers=hb)
    assert (await client.get(f"{M}/search", params={"keyword": "whale"}, headers=hb)).json() == []
    r = await client.get(f"{M}/search", params={"keyword": ""}, headers=hb)
    assert r.status_code == 422


async def test_typing_is_a_signal(client: httpx.AsyncClient, app: Starlette) -> None:
    (a, ha), (b, hb), (c, _hc) = await users(client, 3)
    g = await group(client, ha, [b["id"], c["id"]])
    seen: list[Typing] = []
    unsubscribe = app.state.process.commands.signals.subscribe(seen.append)
    try:
        body = {"conversation_id": g["id"]}
        assert (await client.post(f"{M}/typing", json=body, headers=hb)).status_code == 204
        body["is_typing"] = False
        assert (await client.post(f"{M}/typing", json=body, headers=hb)).status_code == 204
    finally:
        unsubscribe()
    assert [(s.user_id, s.is_typing) for s in seen] == [(b["id"], True), (b["id"], False)]
    assert sorted(seen[0].recipients) == sorted([a["id"], c["id"]])
    ((_, hd),) = await users(client, 1)
    r = await client.post(f"{M}/typing", json={"conversation_id": g["id"]}, headers=hd)
    assert r.status_code == 403


async def test_file_messages(client: httpx.AsyncClient) -> None:
    (_a, ha), (b, hb), (_c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"]])
    r = await client.post(
        f"{API}/files/upload", files={"file": ("report.pdf", b"%PDF-1.4 data")}, headers=ha
    )
    assert r.status_code == 201, r.text
    f = r.json()
    body = {"conversation_id": g["id"], "file_id": f["file_id"]}
    r = await client.post(f"{M}/file", json=body, headers=hb)
    assert r.status_code == 404  # b cannot see a's private file yet
    r = await client.post(f"{M}/file", json={**body, "message_type": "image"}, headers=ha)
    assert r.status_code == 201
    m = r.json()
    assert m["message_type"] == "image" and m["content"] == "report.pdf"
    assert m["file_info"] == {
        "id": f["id"], "file_id": f["file_id"], "name": "report.pdf",
        "size": len(b"%PDF-1.4 data"), "type": f["file_type"],
    }  # fmt: skip
    assert (await history(client, hb, g["id"]))[-1]["file_info"]["name"] == "report.pdf"
    r = await client.get(f"{API}/files/info/{f['file_id']}", headers=hb)
    assert r.status_code == 200  # sending shared it with the members
    assert (await client.get(f"{API}/files/info/{f['file_id']}", headers=hc)).status_code == 404
    r = await client.post(f"{M}/file", json={**body, "file_id": "nope"}, headers=ha)
    assert r.status_code == 404
    r = await client.post(f"{M}/file", json={**body, "message_type": "text"}, headers=ha)
    assert r.status_code == 422


async def test_a_retry_after_removal_answers_the_original(client: httpx.AsyncClient) -> None:
    """An acknowledged send retried (same client_msg_id) after its sender was removed answers
    with the original; a new send from them is refused."""
    (_a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    first = await send(client, hb, g["id"], "before", client_msg_id="k-b")
    assert first.status_code == 201, first.text
    removed = await client.delete(f"{API}/conversations/{g['id']}/members/{b['id']}", headers=ha)
    assert removed.status_code == 200, removed.text
    again = await send(client, hb, g["id"], "before", client_msg_id="k-b")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    new = await send(client, hb, g["id"], "after", client_msg_id="k-b2")
    assert new.status_code == 403, new.text
    assert [m["content"] for m in await history(client, ha, g["id"])][-1] != "after"


async def test_a_non_member_is_refused_before_any_reference_is_looked_up(
    client: httpx.AsyncClient,
) -> None:
    """Who may send is decided first: a non-member learns nothing about message or file ids
    through a conversation they are not in (403, not 404 or 422)."""
    (a, ha), (b, _hb), (_c, hc) = await users(client, 3)
    g = await group(client, ha, [b["id"]])
    mine = await sent(client, hc, (await group(client, hc, [a["id"]]))["id"], "elsewhere")
    for reply_to in (mine["id"], 10**12):
        r = await send(client, hc, g["id"], "hi", reply_to_id=reply_to)
        assert r.status_code == 403, (reply_to, r.text)
    body = {"conversation_id": g["id"], "file_id": "0" * 32, "message_type": "file"}
    r = await client.post(f"{M}/file", json=body, headers=hc)
    assert r.status_code == 403, r.text
    assert r.json()["detail"]
