"""``/audit`` through HTTP: the auditor role, the log routes, export, verify, tamper evidence."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import msgspec

from tests.e2e.audit_helpers import AUDIT, audit_world
from tests.e2e.chat_helpers import group, send, sent, users
from tests.helpers import API

ROUTES = [
    "/streams",
    "/streams/user-1",
    "/events",
    "/export",
    "/conversations/1/state?at=1",
    "/users/1/activity",
    "/verify",
]


async def test_only_granted_auditors_read_the_log(tmp_path: Path) -> None:
    async with audit_world(tmp_path / "d") as w:
        c = w.client
        (u, uh), (v, _) = await users(c, 2)
        for route in ROUTES:  # an ordinary user, and the superuser (not an auditor): 403
            for h in (uh, w.root):
                r = await c.get(f"{AUDIT}{route}", headers=h)
                assert r.status_code == 403, (route, r.text)
            assert (await c.get(f"{AUDIT}{route}")).status_code == 401
        # Only a superuser grants; the answer and /users/me say so.
        r = await c.put(f"{API}/users/{v['id']}/auditor", json={"is_auditor": True}, headers=uh)
        assert r.status_code == 403
        r = await c.put(
            f"{API}/users/{u['id']}/auditor", json={"is_auditor": "yes"}, headers=w.root
        )
        assert r.status_code == 422
        r = await c.put(f"{API}/users/999999/auditor", json={"is_auditor": True}, headers=w.root)
        assert r.status_code == 404
        r = await c.put(f"{API}/users/{u['id']}/auditor", json={"is_auditor": True}, headers=w.root)
        assert r.status_code == 200 and r.json()["is_auditor"] is True
        assert (await c.get(f"{API}/users/me", headers=uh)).json()["is_auditor"] is True
        assert (await c.get(f"{AUDIT}/verify", headers=uh)).status_code == 200
        # The grant is an event in the user's stream, attributed to the superuser.
        recs = await w.get(f"/streams/user-{u['id']}")
        grant = [e for e in recs if e["type"] == "UserAuditorChanged"][-1]
        assert grant["data"]["is_auditor"] is True
        assert grant["metadata"]["actor"]["kind"] == "user"
        assert grant["metadata"]["hash"] and grant["metadata"]["prev_hash"]
        r = await c.put(
            f"{API}/users/{u['id']}/auditor", json={"is_auditor": False}, headers=w.root
        )
        assert r.status_code == 200 and r.json()["is_auditor"] is False
        assert (await c.get(f"{AUDIT}/verify", headers=uh)).status_code == 403


async def test_log_routes_and_every_read_is_recorded(tmp_path: Path) -> None:
    async with audit_world(tmp_path / "d") as w:
        c = w.client
        (a, ha), (b, _) = await users(c, 2)
        g = await group(c, ha, [b["id"]])
        r = await send(c, {**ha, "X-Request-ID": "audit-req-1"}, g["id"], "hello")
        assert r.status_code == 201
        streams = await w.get("/streams", category="messages")
        mine = [s for s in streams if s["stream"] == f"messages-{g['id']}"]
        assert mine and mine[0]["category"] == "messages" and mine[0]["version"] >= 1
        assert mine[0]["first_position"] <= mine[0]["last_position"]
        assert all(s["category"] == "messages" for s in streams)
        assert [s["stream"] for s in await w.get("/streams", prefix=f"conversation-{g['id']}")] == [
            f"conversation-{g['id']}"
        ]
        page = await w.get(f"/streams/messages-{g['id']}", from_version=1, limit=1)
        assert len(page) == 1 and page[0]["version"] == 1 and page[0]["data"]["content"] == "hello"
        # The global log, filtered by correlation id, type and actor.
        found = await w.get("/events", correlation_id="audit-req-1")
        assert [e["type"] for e in found["events"]] == ["MessageSent"]
        assert found["events"][0]["metadata"]["correlation_id"] == "audit-req-1"
        assert found["events"][0]["metadata"]["actor"] == {"kind": "user", "id": a["id"]}
        typed = await w.get("/events", types="ConversationCreated,MessageSent", limit=1)
        assert len(typed["events"]) == 1 and typed["next_position"] is not None
        rest = await w.get(
            "/events",
            types="ConversationCreated,MessageSent",
            after_position=typed["next_position"],
        )
        assert all(e["position"] > typed["next_position"] for e in rest["events"])
        activity = await w.get(f"/users/{a['id']}/activity")
        assert {e["type"] for e in activity} >= {"ConversationCreated", "MessageSent"}
        assert all(e["metadata"]["actor"]["id"] == a["id"] for e in activity)
        # Export: NDJSON, the same events as the pages.
        r = await c.get(f"{AUDIT}/export", headers=w.ah)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        lines = [msgspec.json.decode(x) for x in r.content.splitlines()]
        positions = [e["position"] for e in lines]
        assert positions == sorted(positions) and len(lines) >= 5
        v = await w.get("/verify")
        assert v["ok"] is True and v["first_break"] is None and v["checked"] >= len(lines)
        assert v["head"]["position"] >= positions[-1] and len(v["head"]["digest"]) == 64
        one = await w.get("/verify", stream=f"messages-{g['id']}")
        assert one["ok"] and one["checked"] == mine[0]["version"] + 1
        # Every audit request above is an AuditRead event of the auditor, with its filters.
        reads = await w.get(f"/streams/audit-{w.auditor['id']}", limit=1000)
        routes = [e["data"]["route"] for e in reads]
        assert "GET /audit/export" in routes and "GET /audit/verify" in routes
        filtered = [e for e in reads if e["data"]["filters"].get("correlation_id") == "audit-req-1"]
        assert filtered and filtered[0]["data"]["route"] == "GET /audit/events"


async def test_audit_input_errors(tmp_path: Path) -> None:
    async with audit_world(tmp_path / "d") as w:
        c = w.client
        refused: list[tuple[str, dict[str, Any]]] = [
            ("/events", {"limit": 0}),
            ("/events", {"since": "yesterday"}),
            ("/streams", {"limit": 5000}),
            ("/conversations/1/state", {}),
        ]
        for path, params in refused:
            r = await c.get(f"{AUDIT}{path}", params=params, headers=w.ah)
            assert r.status_code == 422, (path, r.text)
        r = await c.get(f"{AUDIT}/conversations/1/state", params={"at": "soon"}, headers=w.ah)
        assert r.status_code == 400 and "at" in r.json()["detail"]
        r = await c.get(f"{AUDIT}/conversations/987654/state", params={"at": "5"}, headers=w.ah)
        assert r.status_code == 404
        assert await w.get("/streams/no-such-stream") == []


async def test_one_edited_byte_is_found(tmp_path: Path) -> None:
    data = tmp_path / "d"
    async with audit_world(data) as w:
        (_a, ha), (b, _) = await users(w.client, 2)
        g = await group(w.client, ha, [b["id"]])
        for i in range(5):
            await sent(w.client, ha, g["id"], f"note {i}")
        target = await sent(w.client, ha, g["id"], "pay 100 to alice")
        for i in range(3):
            await sent(w.client, ha, g["id"], f"after {i}")
        assert (await w.get("/verify"))["ok"]
        stream = f"messages-{g['id']}"
        victim = next(
            e
            for e in await w.get(f"/streams/{stream}")
            if e["data"].get("content") == "pay 100 to alice"
        )
        auditor = w.auditor
    del target
    path = data / "events.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    raw = bytearray(path.read_bytes())
    at = raw.find(b"pay 100 to alice")
    assert at > 0 and raw.find(b"pay 100 to alice", at + 1) == -1
    raw[at + 4] = ord("9")  # "pay 900 to alice": one byte
    path.write_bytes(bytes(raw))
    async with audit_world(data) as w2:
        h = await _login_auditor(w2.client, auditor)
        r = await w2.client.get(f"{AUDIT}/verify", headers=h)
        assert r.status_code == 200
        v = r.json()
        assert v["ok"] is False
        assert v["first_break"]["stream"] == stream
        assert v["first_break"]["version"] == victim["version"]
        assert v["first_break"]["position"] == victim["position"]
        assert "content" in v["first_break"]["reason"]
        r = await w2.client.get(f"{AUDIT}/verify", params={"stream": stream}, headers=h)
        assert r.json()["first_break"]["version"] == victim["version"]


async def _login_auditor(c: httpx.AsyncClient, auditor: Any) -> dict[str, str]:
    from tests.helpers import token_for

    return {"Authorization": f"Bearer {await token_for(c, auditor['standard_id'])}"}
