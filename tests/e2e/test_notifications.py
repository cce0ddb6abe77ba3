"""``/notifications`` through HTTP: ownership, superuser writes, sends, templates, preferences,
status changes, and the notifications the system itself creates (group invites, mentions)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from domain.notifications import Draft
from domain.store import RecordedEvent
from tests.e2e.notify_helpers import Headers, admin_client, inbox, notify, wait_for_kind
from tests.helpers import API, ServerProcess, new_user, token_for, unique, wait_until

N = f"{API}/notifications"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Headers]]:
    async with admin_client(tmp_path / "data") as pair:
        yield pair


async def test_superuser_creates_and_only_the_owner_sees(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    (a, ha), (_b, hb) = await new_user(c), await new_user(c)
    body = {
        "user_id": a["id"],
        "title": "Welcome",
        "content": "Hello there",
        "type": "system",
        "priority": "high",
        "data": {"link": "/start", "n": 1},
    }
    r = await c.post(f"{N}/", json=body, headers=root)
    assert r.status_code == 201, r.text
    made = r.json()
    assert set(made) == {
        "id", "user_id", "title", "content", "type", "priority", "status", "data",
        "created_at", "read_at", "scheduled_at",
    }  # fmt: skip
    assert made["user_id"] == a["id"] and made["status"] == "unread"
    assert made["data"] == {"link": "/start", "n": 1} and made["created_at"].endswith("Z")
    assert made["read_at"] is None and made["scheduled_at"] is None
    assert await inbox(c, ha) == [made]
    assert await inbox(c, hb) == []
    nid = made["id"]
    # Someone else's notification does not exist for them.
    assert (await c.patch(f"{N}/{nid}", json={"status": "read"}, headers=hb)).status_code == 404
    assert (await c.delete(f"{N}/{nid}", headers=hb)).status_code == 404
    assert (await c.post(f"{N}/{nid}/mark-read", headers=hb)).status_code == 404
    assert (await c.patch(f"{N}/{nid}", json={}, headers=root)).status_code == 404
    assert (await inbox(c, ha))[0]["status"] == "unread"
    # Writes are for superusers; everything needs a token.
    r = await c.post(f"{N}/", json=body, headers=ha)
    assert r.status_code == 403 and "detail" in r.json()
    for method, path in [("GET", "/"), ("GET", "/stats"), ("POST", "/"), ("DELETE", f"/{nid}")]:
        r = await c.request(method, f"{N}{path}", json=body if method == "POST" else None)
        assert r.status_code == 401, (method, path)
    r = await c.post(f"{N}/", json={**body, "user_id": 987654}, headers=root)
    assert r.status_code == 400


async def test_create_validation_is_4xx(env: tuple[httpx.AsyncClient, Headers]) -> None:
    c, root = env
    a, _ = await new_user(c)
    ok = {"user_id": a["id"], "title": "t", "content": "c"}
    for bad in (
        {**ok, "title": ""},
        {**ok, "title": "x" * 201},
        {**ok, "type": "spam"},
        {**ok, "priority": "urgent"},
        {**ok, "user_id": 0},
        {**ok, "scheduled_at": "tomorrow"},
        {"title": "t"},
    ):
        r = await c.post(f"{N}/", json=bad, headers=root)
        assert r.status_code == 422, (bad, r.text)
        assert isinstance(r.json()["detail"], list)
    r = await c.post(f"{N}/", json={**ok, "data": {"blob": "x" * 20000}}, headers=root)
    assert r.status_code == 400
    r = await c.post(f"{N}/", content=b"{not json", headers=root)
    assert r.status_code == 422


async def test_list_filters_newest_first_and_stats(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    a, ha = await new_user(c)
    one = await notify(c, root, a["id"], type="system", priority="low")
    two = await notify(c, root, a["id"], type="mention", priority="high")
    three = await notify(c, root, a["id"], type="event", priority="high")
    assert [x["id"] for x in await inbox(c, ha)] == [three["id"], two["id"], one["id"]]
    r = await c.get(f"{N}/", params={"skip": 1, "limit": 1}, headers=ha)
    assert [x["id"] for x in r.json()] == [two["id"]]
    assert [x["id"] for x in await inbox(c, ha, type="mention")] == [two["id"]]
    assert (await c.post(f"{N}/{two['id']}/mark-read", headers=ha)).status_code == 204
    unread = await inbox(c, ha, unread_only="true")
    assert [x["id"] for x in unread] == [three["id"], one["id"]]
    r = await c.get(f"{N}/stats", headers=ha)
    assert r.json() == {
        "total": 3,
        "unread_count": 2,
        "read_count": 1,
        "by_type": {
            "message": 0, "system": 1, "group_invite": 0, "mention": 1, "broadcast": 0,
            "event": 1,
        },
        "by_priority": {"low": 1, "normal": 0, "high": 2},
    }  # fmt: skip
    for params in ({"limit": 0}, {"limit": 201}, {"skip": -1}, {"type": "spam"}):
        assert (await c.get(f"{N}/", params=params, headers=ha)).status_code == 422


async def test_status_changes_delete_and_batch_actions(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    (a, ha), (b, _hb) = await new_user(c), await new_user(c)
    ids = [(await notify(c, root, a["id"]))["id"] for _ in range(4)]
    foreign = (await notify(c, root, b["id"]))["id"]
    r = await c.patch(f"{N}/{ids[0]}", json={"status": "read"}, headers=ha)
    assert r.status_code == 200 and r.json()["status"] == "read" and r.json()["read_at"]
    r = await c.patch(f"{N}/{ids[0]}", json={"status": "unread"}, headers=ha)
    assert r.json()["status"] == "unread" and r.json()["read_at"] is None
    assert (await c.patch(f"{N}/{ids[0]}", json={"status": "gone"}, headers=ha)).status_code == 422
    # Bulk mark-read ignores what is not the caller's.
    body: dict[str, Any] = {"notification_ids": [ids[0], ids[1], foreign, 99999]}
    assert (await c.post(f"{N}/mark-read", json=body, headers=ha)).status_code == 204
    status = {x["id"]: x["status"] for x in await inbox(c, ha)}
    assert status == {ids[0]: "read", ids[1]: "read", ids[2]: "unread", ids[3]: "unread"}
    r = await c.post(f"{N}/mark-read", json={}, headers=ha)
    assert r.status_code == 400 and "all" in r.json()["detail"]
    assert (await c.post(f"{N}/mark-read", json={"all": True}, headers=ha)).status_code == 204
    assert {x["status"] for x in await inbox(c, ha)} == {"read"}
    # Batch actions count the caller's as processed and the rest as failed.
    body = {"notification_ids": [ids[2], ids[3], foreign], "action": "mark_unread"}
    r = await c.post(f"{N}/batch-action", json=body, headers=ha)
    assert r.json() == {"processed": 2, "failed": 1}
    assert len(await inbox(c, ha, unread_only=True)) == 2
    body = {"notification_ids": [ids[3], ids[3], 424242], "action": "delete"}
    r = await c.post(f"{N}/batch-action", json=body, headers=ha)
    assert r.json() == {"processed": 1, "failed": 1}
    body = {"notification_ids": [ids[2]], "action": "mark_read"}
    assert (await c.post(f"{N}/batch-action", json=body, headers=ha)).json()["processed"] == 1
    for bad in ({"notification_ids": [], "action": "delete"}, {"notification_ids": [1]}):
        assert (await c.post(f"{N}/batch-action", json=bad, headers=ha)).status_code == 422
    assert (await c.delete(f"{N}/{ids[0]}", headers=ha)).status_code == 204
    assert (await c.delete(f"{N}/{ids[0]}", headers=ha)).status_code == 404
    assert (await c.post(f"{N}/{ids[0]}/mark-read", headers=ha)).status_code == 404
    assert sorted(x["id"] for x in await inbox(c, ha)) == [ids[1], ids[2]]
    stats = (await c.get(f"{N}/stats", headers=ha)).json()
    assert (stats["total"], stats["unread_count"]) == (2, 0)
    assert len(await inbox(c, _hb)) == 1  # the other user's is untouched


async def test_scheduled_notifications_appear_when_due(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    a, ha = await new_user(c)
    due = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.2)
    made = await notify(c, root, a["id"], scheduled_at=due.isoformat())
    assert made["scheduled_at"].startswith(due.strftime("%Y-%m-%dT%H:%M:%S"))
    assert await inbox(c, ha) == []
    assert (await c.get(f"{N}/stats", headers=ha)).json()["total"] == 0

    async def shown() -> bool:
        return [x["id"] for x in await inbox(c, ha)] == [made["id"]]

    await wait_until(shown, timeout=5)


async def test_send_to_many_reports_each_recipient(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, root = env
    (a, ha), (b, hb) = await new_user(c), await new_user(c)
    body = {
        "user_ids": [a["id"], 987654, b["id"], a["id"]],
        "title": "Maintenance",
        "content": "Tonight",
        "type": "system",
        "priority": "high",
    }
    r = await c.post(f"{N}/send", json=body, headers=root)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["total_sent"], out["successful"], out["failed"]) == (4, 2, 2)
    assert out["errors"] == [
        {"index": 1, "detail": "User not found"},
        {"index": 3, "detail": "Duplicate user id"},
    ]
    mine_a, mine_b = await inbox(c, ha), await inbox(c, hb)
    assert sorted(out["notification_ids"]) == sorted([mine_a[0]["id"], mine_b[0]["id"]])
    assert mine_a[0]["title"] == "Maintenance" and mine_a[0]["priority"] == "high"
    assert (await c.post(f"{N}/send", json=body, headers=ha)).status_code == 403
    r = await c.post(f"{N}/send", json={"user_ids": [a["id"]]}, headers=root)
    assert r.status_code == 400 and "template_id" in r.json()["detail"]
    r = await c.post(f"{N}/send", json={"user_ids": [], "title": "x"}, headers=root)
    assert r.status_code == 422


async def test_templates_render_and_stay_unique(env: tuple[httpx.AsyncClient, Headers]) -> None:
    c, root = env
    a, ha = await new_user(c)
    name = unique("Welcome")
    body = {
        "name": name,
        "type": "system",
        "title_template": "Hi {name}",
        "content_template": "You have {count} new {thing}s {not a placeholder}",
        "priority": "high",
    }
    r = await c.post(f"{N}/templates/", json=body, headers=root)
    assert r.status_code == 201, r.text
    tpl = r.json()
    assert tpl["name"] == name and tpl["is_active"] is True and tpl["type"] == "system"
    assert set(tpl) >= {"id", "name", "type", "title_template", "content_template", "priority"}
    # Unique names, case-insensitively; writes are for superusers.
    r = await c.post(f"{N}/templates/", json={**body, "name": name.upper()}, headers=root)
    assert r.status_code == 400 and "name" in r.json()["detail"]
    assert (await c.post(f"{N}/templates/", json=body, headers=ha)).status_code == 403
    assert (await c.patch(f"{N}/templates/{tpl['id']}", json={}, headers=ha)).status_code == 403
    assert (await c.delete(f"{N}/templates/{tpl['id']}", headers=ha)).status_code == 403
    assert (await c.get(f"{N}/templates/{tpl['id']}", headers=ha)).json() == tpl
    send = {
        "user_ids": [a["id"]],
        "template_id": tpl["id"],
        "variables": {"name": "Ann", "count": 3, "thing": "message"},
    }
    r = await c.post(f"{N}/send", json=send, headers=root)
    assert r.json()["successful"] == 1, r.text
    got = (await inbox(c, ha))[0]
    assert got["title"] == "Hi Ann" and got["priority"] == "high"
    assert got["content"] == "You have 3 new messages {not a placeholder}"
    r = await c.post(f"{N}/send", json={**send, "variables": {"name": "Ann"}}, headers=root)
    assert r.status_code == 400 and "count" in r.json()["detail"]
    r = await c.post(f"{N}/send", json={**send, "template_id": 99999}, headers=root)
    assert r.status_code == 404
    # Renaming frees the old name; deactivating hides it from users and blocks sending.
    new_name = unique("Renamed")
    r = await c.patch(
        f"{N}/templates/{tpl['id']}", json={"name": new_name, "is_active": False}, headers=root
    )
    assert r.status_code == 200 and r.json()["name"] == new_name
    assert r.json()["is_active"] is False and r.json()["title_template"] == "Hi {name}"
    assert (await c.get(f"{N}/templates/{tpl['id']}", headers=ha)).status_code == 404
    assert tpl["id"] not in [x["id"] for x in (await c.get(f"{N}/templates/", headers=ha)).json()]
    assert tpl["id"] in [x["id"] for x in (await c.get(f"{N}/templates/", headers=root)).json()]
    r = await c.post(f"{N}/send", json=send, headers=root)
    assert r.status_code == 400 and "not active" in r.json()["detail"]
    r = await c.post(f"{N}/templates/", json=body, headers=root)
    assert r.status_code == 201, "the old name is free again"
    other = r.json()
    r = await c.patch(f"{N}/templates/{other['id']}", json={"name": new_name}, headers=root)
    assert r.status_code == 400
    assert (await c.delete(f"{N}/templates/{tpl['id']}", headers=root)).status_code == 204
    assert (await c.get(f"{N}/templates/{tpl['id']}", headers=root)).status_code == 404
    assert (await c.delete(f"{N}/templates/{tpl['id']}", headers=root)).status_code == 404
    r = await c.patch(f"{N}/templates/{other['id']}", json={"name": new_name}, headers=root)
    assert r.status_code == 200, "a deleted template's name is free"
    for bad in (
        {**body, "name": ""},
        {**body, "name": "n" * 101},
        {**body, "title_template": ""},
        {**body, "title_template": "t" * 5001},
        {**body, "content_template": "c" * 5001},
        {**body, "type": "x"},
        {**body, "priority": "urgent"},
    ):
        assert (await c.post(f"{N}/templates/", json=bad, headers=root)).status_code == 422, bad
        r = await c.patch(f"{N}/templates/{other['id']}", json=bad, headers=root)
        assert r.status_code == 422, bad
    for blank, detail in (
        ({"name": " \t "}, "name must be 1-100 characters"),
        ({"title_template": "  "}, "title_template must be 1-5000 characters"),
    ):
        r = await c.post(f"{N}/templates/", json={**body, **blank}, headers=root)
        assert (r.status_code, r.json()["detail"]) == (400, detail)
        r = await c.patch(f"{N}/templates/{other['id']}", json=blank, headers=root)
        assert (r.status_code, r.json()["detail"]) == (400, detail)
    assert (await c.get(f"{N}/templates/")).status_code == 401


async def test_preferences_defaults_partial_updates_and_validation(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    c, _root = env
    (_a, ha), (_b, hb) = await new_user(c), await new_user(c)
    r = await c.get(f"{N}/preferences/", headers=ha)
    defaults = r.json()
    assert r.status_code == 200 and defaults["websocket_enabled"] is True
    assert {
        "message_enabled", "group_message_enabled", "websocket_enabled", "email_enabled",
        "push_enabled", "do_not_disturb", "quiet_hours_start", "quiet_hours_end",
        "email_frequency",
    } <= set(defaults)  # fmt: skip
    change = {"do_not_disturb": True, "quiet_hours_start": "22:30", "quiet_hours_end": "07:00"}
    r = await c.put(f"{N}/preferences", json=change, headers=ha)
    assert r.status_code == 200 and r.json() == {**defaults, **change}
    r = await c.put(f"{N}/preferences/", json={"email_frequency": "daily"}, headers=ha)
    assert r.json() == {**defaults, **change, "email_frequency": "daily"}
    assert (await c.get(f"{N}/preferences/", headers=ha)).json() == r.json()
    assert (await c.get(f"{N}/preferences/", headers=hb)).json() == defaults
    for bad in (
        {"quiet_hours_start": "24:00"},
        {"quiet_hours_start": "7:00"},
        {"quiet_hours_end": "12:60"},
        {"quiet_hours_end": "8:00"},
        {"email_frequency": "sometimes"},
        {"email_frequency": "Daily"},
        {"do_not_disturb": "yes"},
    ):
        r = await c.put(f"{N}/preferences/", json=bad, headers=ha)
        assert r.status_code == 422, bad
    r = await c.put(
        f"{N}/preferences/",
        json={"quiet_hours_start": None, "quiet_hours_end": "08:00"},
        headers=hb,
    )
    assert r.status_code == 400 and "together" in r.json()["detail"]
    r = await c.put(f"{N}/preferences/", json={"timezone": "Mars/Olympus"}, headers=hb)
    assert r.status_code == 400
    late = {"quiet_hours_start": "22:00\n", "quiet_hours_end": "06:00"}
    r = await c.put(f"{N}/preferences/", json=late, headers=hb)
    assert r.status_code == 400 and "HH:MM" in r.json()["detail"]  # the whole string, not a line
    r = await c.put(f"{N}/preferences/", json={"timezone": "Asia/Shanghai"}, headers=hb)
    assert r.status_code == 200 and r.json()["timezone"] == "Asia/Shanghai"
    assert (await c.put(f"{N}/preferences/", json={})).status_code == 401


async def test_group_invites_and_mentions_notify(env: tuple[httpx.AsyncClient, Headers]) -> None:
    c, _root = env
    (a, ha), (b, hb), (d, hd), (e, he) = [await new_user(c) for _ in range(4)]
    r = await c.post(
        f"{API}/conversations/group",
        json={"name": "Project X", "member_ids": [b["id"]]},
        headers=ha,
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await c.post(f"{API}/conversations/{cid}/members", json={"user_ids": [d["id"]]}, headers=ha)
    assert r.status_code == 200, r.text
    (invite,) = await wait_for_kind(c, hd, "group_invite")
    assert invite["data"]["conversation_id"] == cid and invite["data"]["operator_id"] == a["id"]
    assert "Project X" in invite["title"] and a["name"] in invite["content"]
    text = f"hi @{b['standard_id'].upper()} and @{d['standard_id']}, not @{e['standard_id']}"
    body = {
        "conversation_id": cid,
        "content": text + f" mail x@{a['standard_id']} @{a['standard_id']}",
    }
    r = await c.post(f"{API}/messages/text", json=body, headers=ha)
    assert r.status_code == 201, r.text
    message = r.json()
    (mention,) = await wait_for_kind(c, hb, "mention")
    assert mention["data"] == {
        "conversation_id": cid,
        "message_id": message["id"],
        "sender_id": a["id"],
    }
    assert mention["content"].startswith("hi @") and a["name"] in mention["title"]
    await wait_for_kind(c, hd, "mention")
    # A single chat is not a group: no mentions there; non-members and the sender get nothing.
    r = await c.post(f"{API}/conversations/single", json={"target_user_id": e["id"]}, headers=ha)
    single = r.json()["id"]
    body = {"conversation_id": single, "content": f"@{e['standard_id']} hi"}
    assert (await c.post(f"{API}/messages/text", json=body, headers=ha)).status_code == 201
    r = await c.post(f"{API}/conversations/{cid}/members", json={"user_ids": [e["id"]]}, headers=ha)
    await wait_for_kind(c, he, "group_invite")
    assert await inbox(c, he, type="mention") == []
    assert await inbox(c, ha) == []
    assert await inbox(c, hb, type="group_invite") == [], "group creation is not an invite"


# -- a real server: push honours preferences; the policy is idempotent across restarts ---------

ROOT, ROOT_PASSWORD = "np_root", "root-secret-1"


def _server(data_dir: Path) -> ServerProcess:
    return ServerProcess(
        data_dir, IM_FIRST_SUPERUSER=ROOT, IM_FIRST_SUPERUSER_PASSWORD=ROOT_PASSWORD
    ).start()


async def _until(ws: Any, kind: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Every frame up to and including the first of ``kind`` (failing after ``timeout``)."""
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while not out or out[-1]["type"] != kind:
        left = deadline - time.monotonic()
        assert left > 0, f"no {kind} frame; got {[f['type'] for f in out]}"
        out.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
    return out


async def test_push_honours_preferences(tmp_path: Path) -> None:
    server = _server(tmp_path / "push")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            root = {"Authorization": f"Bearer {await token_for(c, ROOT, ROOT_PASSWORD)}"}
            people = [await new_user(c) for _ in range(4)]
            now = dt.datetime.now(dt.UTC)
            quiet = {
                "quiet_hours_start": (now - dt.timedelta(hours=1)).strftime("%H:%M"),
                "quiet_hours_end": (now + dt.timedelta(hours=1)).strftime("%H:%M"),
            }
            changes = [{}, {"websocket_enabled": False}, quiet, {"do_not_disturb": True}]
            for (_, h), change in zip(people, changes, strict=True):
                if change:
                    r = await c.put(f"{N}/preferences/", json=change, headers=h)
                    assert r.status_code == 200, r.text
            async with contextlib.AsyncExitStack() as stack:
                sockets = []
                for _, h in people:
                    token = h["Authorization"].removeprefix("Bearer ")
                    url = server.url.replace("http", "ws") + f"{API}/realtime/ws?token={token}"
                    ws = await stack.enter_async_context(websockets.connect(url))
                    assert json.loads(await ws.recv())["type"] == "connection_established"
                    sockets.append(ws)
                ids = [u["id"] for u, _ in people]
                body = {"user_ids": ids, "title": "Ping", "content": "pong"}
                r = await c.post(f"{N}/send", json=body, headers=root)
                assert r.json()["successful"] == 4, r.text
                frame = (await _until(sockets[0], "notification_created"))[-1]
                listed = await inbox(c, people[0][1])
                assert frame["data"] == listed[0] and isinstance(frame["position"], int)
                # A broadcast comes after those notifications: each socket sees it, and nothing
                # else before it (frames reach a connection in event-store order).
                body = {"title": "marker", "target_user_ids": ids[1:]}
                assert (await c.post(f"{API}/broadcasts/", json=body, headers=root)).is_success
                for ws in sockets[1:]:
                    kinds = [f["type"] for f in await _until(ws, "broadcast_received")]
                    assert "notification_created" not in kinds
                for _, h in people[1:]:
                    assert [x["title"] for x in await inbox(c, h, type="system")] == ["Ping"]
    finally:
        server.stop()


async def _group_with(c: httpx.AsyncClient, owner: Headers, members: list[int]) -> int:
    body = {"name": "Crash test", "member_ids": members}
    r = await c.post(f"{API}/conversations/group", json=body, headers=owner)
    assert r.status_code == 201, r.text
    cid: int = r.json()["id"]
    return cid


def _rewind_policy(data_dir: Path) -> None:
    """Make the policy forget everything it did, as if it crashed before saving anything."""
    with contextlib.closing(sqlite3.connect(data_dir / "read.sqlite3")) as db:
        db.execute("UPDATE checkpoints SET position = 1 WHERE projection = 'policy:notifications'")
        db.commit()


async def test_the_policy_never_notifies_twice_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "restart"
    server = _server(data)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            root = {"Authorization": f"Bearer {await token_for(c, ROOT, ROOT_PASSWORD)}"}
            (a, ha), (b, hb) = await new_user(c), await new_user(c)
            invited = [await new_user(c) for _ in range(5)]
            cid = await _group_with(c, ha, [b["id"]])
            for user, _ in invited:
                r = await c.post(
                    f"{API}/conversations/{cid}/members",
                    json={"user_ids": [user["id"]]},
                    headers=ha,
                )
                assert r.status_code == 200, r.text
            body = {"conversation_id": cid, "content": f"@{b['standard_id']} look"}
            assert (await c.post(f"{API}/messages/text", json=body, headers=ha)).status_code == 201
            body = {"title": "All hands", "target_user_ids": [a["id"], b["id"]]}
            assert (await c.post(f"{API}/broadcasts/", json=body, headers=root)).status_code == 201
            server.kill()  # SIGKILL: whatever the policy had not saved is redone on restart
        _rewind_policy(data)
        server = _server(data)
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
            late, hl = await new_user(c)
            r = await c.post(
                f"{API}/conversations/{cid}/members", json={"user_ids": [late["id"]]}, headers=ha
            )
            assert r.status_code == 200, r.text
            await wait_for_kind(c, hl, "group_invite")  # everything before it was redone too
            for _, h in invited:
                assert len(await inbox(c, h, type="group_invite")) == 1
            assert len(await wait_for_kind(c, hb, "mention")) == 1
            assert len(await inbox(c, hb, type="mention")) == 1
            for h in (ha, hb):
                assert len(await inbox(c, h, type="broadcast")) == 1
    finally:
        server.stop()


async def test_notifications_broadcasts_and_events_on_the_mongo_read_store(
    tmp_path: Path, secantus_db: tuple[str, str]
) -> None:
    url, db = secantus_db
    async with admin_client(tmp_path / "m", read_store="mongo", mongo_url=url, mongo_db=db) as (
        c,
        root,
    ):
        a, ha = await new_user(c)
        ids = [(await notify(c, root, a["id"], type=k))["id"] for k in ("system", "event")]
        assert [x["id"] for x in await inbox(c, ha)] == ids[::-1]
        assert [x["id"] for x in await inbox(c, ha, type="event")] == [ids[1]]
        assert (await c.post(f"{N}/mark-read", json={"all": True}, headers=ha)).status_code == 204
        stats = (await c.get(f"{N}/stats", headers=ha)).json()
        assert (stats["total"], stats["read_count"], stats["by_type"]["event"]) == (2, 2, 1)
        body = {"notification_ids": ids, "action": "delete"}
        assert (await c.post(f"{N}/batch-action", json=body, headers=ha)).json()["processed"] == 2
        assert await inbox(c, ha) == []
        r = await c.put(f"{N}/preferences/", json={"do_not_disturb": True}, headers=ha)
        assert (await c.get(f"{N}/preferences/", headers=ha)).json() == r.json()
        tpl = {"name": "Mongo", "title_template": "{x}"}
        assert (await c.post(f"{N}/templates/", json=tpl, headers=root)).status_code == 201
        assert (await c.post(f"{N}/templates/", json=tpl, headers=root)).status_code == 400
        r = await c.post(f"{API}/broadcasts/", json={"title": "b"}, headers=root)
        assert [x["id"] for x in (await c.get(f"{API}/broadcasts/", headers=ha)).json()] == [
            r.json()["id"]
        ]
        body = {"event_type": "alarm", "title": "Fire", "occurred_at": "2026-01-01T00:00:00Z"}
        assert (await c.post(f"{API}/events/", json=body, headers=ha)).status_code == 201
        r = await c.get(f"{API}/events/", params={"since": "2025-12-31T00:00:00Z"}, headers=ha)
        assert len(r.json()) == 1
        await wait_for_kind(c, root, "event")
        await wait_for_kind(c, ha, "broadcast")


async def test_a_refused_notification_never_wedges_the_policy(
    env: tuple[httpx.AsyncClient, Headers],
) -> None:
    """A draft that validation refuses is skipped; the policy goes on with the next events."""
    c, root = env
    a, ha = await new_user(c)
    transport = c._transport
    assert isinstance(transport, httpx.ASGITransport)
    process = transport.app.state.process  # type: ignore[attr-defined]
    policy = process.notify_policy
    rec = RecordedEvent("src", "x-1", 0, 1, "MemberAdded", b"", b"", 0.0)
    await policy._notify(rec, [Draft(user_id=a["id"], title="   ", content="")])
    assert await inbox(c, ha) == []
    body = {"title": "after", "target_user_ids": [a["id"]]}
    assert (await c.post(f"{API}/broadcasts/", json=body, headers=root)).status_code == 201
    await wait_for_kind(c, ha, "broadcast")
    assert process.policy_runtime.error is None
