"""``im audit``, ``im export`` / ``im import`` and ``im admin grant-auditor`` through the real
command line, on the event store of a stopped server."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.audit_helpers import AUDIT, audit_world
from tests.e2e.chat_helpers import group, sent, users
from tests.helpers import API, server_env


def im(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=server_env(data),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def _data_set(c: httpx.AsyncClient, seed: int) -> list[tuple[Any, dict[str, str]]]:
    """A generated data set: users, groups and single chats, messages, edits, recalls, reads."""
    rnd = random.Random(seed)
    people = await users(c, 5)
    ids = [u["id"] for u, _ in people]
    for n in range(3):
        owner = rnd.randrange(5)
        others = [i for i in ids if i != ids[owner]]
        chosen = rnd.sample(others, 2)
        g = await group(c, people[owner][1], chosen, name=f"g{n}")
        members = [owner] + [ids.index(i) for i in chosen]
        for k in range(8):
            who = rnd.choice(members)
            m = await sent(c, people[who][1], g["id"], f"g{n} message {k}")
            if rnd.random() < 0.3:
                r = await c.put(
                    f"{API}/messages/{m['id']}",
                    json={"content": f"edited {k}"},
                    headers=people[who][1],
                )
                assert r.status_code == 200, r.text
            elif rnd.random() < 0.2:
                r = await c.post(f"{API}/messages/{m['id']}/recall", headers=people[who][1])
                assert r.status_code == 200, r.text
        reader = rnd.choice(members)
        r = await c.post(
            f"{API}/messages/mark-read",
            json={"conversation_id": g["id"]},
            headers=people[reader][1],
        )
        assert r.status_code == 204, r.text
    r = await c.post(
        f"{API}/conversations/single", json={"target_user_id": ids[1]}, headers=people[0][1]
    )
    await sent(c, people[0][1], r.json()["id"], "direct")
    return people


async def _answers(c: httpx.AsyncClient, people: list[tuple[Any, dict[str, str]]]) -> Any:
    out = []
    for _, h in people:
        me = (await c.get(f"{API}/users/me", headers=h)).json()
        convs = (await c.get(f"{API}/conversations/", headers=h)).json()
        per = []
        for conv in convs:
            cid = conv["id"]
            members = (await c.get(f"{API}/conversations/{cid}/members", headers=h)).json()
            hist = (
                await c.get(f"{API}/messages/conversation/{cid}", params={"limit": 200}, headers=h)
            ).json()
            per.append((members, hist))
        out.append((me, convs, per))
    return out


async def test_cli_reads_exports_and_imports(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    async with audit_world(a) as w:
        people = await _data_set(w.client, 7)
        before = await _answers(w.client, people)
        auditor = w.auditor
    # The server is down: the CLI reads the store directly.
    r = im(a, "audit", "verify")
    assert r.returncode == 0 and r.stdout.startswith("ok:"), r.stdout + r.stderr
    r = im(a, "audit", "streams", "--category", "conversation", "--json")
    assert r.returncode == 0, r.stderr
    streams = json.loads(r.stdout)
    assert len(streams) == 4 and all(s["category"] == "conversation" for s in streams)
    r = im(a, "audit", "events", "--types", "MessageEdited,MessageRecalled", "--json")
    assert r.returncode == 0 and {e["type"] for e in json.loads(r.stdout)} <= {
        "MessageEdited",
        "MessageRecalled",
    }
    r = im(a, "audit", "streams")
    assert r.returncode == 0 and r.stdout.splitlines()[0].split()[:2] == ["stream", "version"]
    uid = people[0][0]["id"]
    r = im(a, "audit", "activity", str(uid), "--json")
    assert r.returncode == 0 and all(
        e["metadata"]["actor"]["id"] == uid for e in json.loads(r.stdout)
    )
    cid = int(streams[0]["stream"].split("-")[1])
    r = im(a, "audit", "state", str(cid), "--at", str(streams[0]["last_position"]), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["conversation"]["id"] == cid
    r = im(a, "audit", "state", str(cid), "--at", "soon")
    assert r.returncode == 2 and "ISO 8601" in r.stderr
    # Backup and restore into an empty store: the same answers for everyone, verify passes.
    r = im(a, "export", "--out", str(tmp_path / "log.ndjson"))
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "log.ndjson").read_bytes().splitlines()
    assert len(lines) > 50
    r = im(b, "import", str(tmp_path / "log.ndjson"))
    assert r.returncode == 0, r.stderr
    r = im(b, "import", str(tmp_path / "log.ndjson"))
    assert r.returncode == 2 and "not empty" in r.stderr
    for data in (a, b):
        r = im(data, "audit", "verify", "--json")
        assert r.returncode == 0 and json.loads(r.stdout)["ok"] is True, r.stdout
    r = im(b, "export", "--out", str(tmp_path / "again.ndjson"))
    assert (tmp_path / "again.ndjson").read_bytes().splitlines()[: len(lines)] == lines
    async with audit_world(b) as w2:
        assert await _answers(w2.client, people) == before
        # The auditor granted before the export is one after the import, too.
        h = await _login(w2.client, auditor)
        assert (await w2.client.get(f"{AUDIT}/verify", headers=h)).status_code == 200
    r = im(b, "admin", "grant-auditor", str(uid))
    assert r.returncode == 0 and "is now an auditor" in r.stdout
    async with audit_world(b) as w3:
        verified = await w3.client.get(f"{AUDIT}/verify", headers=people[0][1])
        assert verified.status_code == 200
    r = im(b, "admin", "grant-auditor", str(uid), "--revoke")
    assert r.returncode == 0 and "is no longer an auditor" in r.stdout


async def _login(c: httpx.AsyncClient, user: Any) -> dict[str, str]:
    from tests.helpers import token_for

    return {"Authorization": f"Bearer {await token_for(c, user['standard_id'])}"}


def test_verify_exits_1_and_names_the_event(tmp_path: Path) -> None:
    import asyncio

    data = tmp_path / "d"

    async def make() -> None:
        async with audit_world(data) as w:
            (_u, h), (v, _) = await users(w.client, 2)
            g = await group(w.client, h, [v["id"]])
            for text in ("alpha", "bravo-unique-text", "charlie"):
                await sent(w.client, h, g["id"], text)

    asyncio.run(make())
    conn = sqlite3.connect(data / "events.sqlite3")
    row = conn.execute(
        "SELECT stream, version, position FROM events"
        " WHERE instr(CAST(data AS TEXT), 'bravo-unique-text') > 0"
    ).fetchone()
    conn.execute(
        "UPDATE events SET data = CAST(replace(CAST(data AS TEXT), 'bravo', 'BRAVO') AS BLOB)"
        " WHERE position = ?",
        (row[2],),
    )
    conn.commit()
    conn.close()
    r = im(data, "audit", "verify")
    assert r.returncode == 1
    assert f"stream {row[0]} version {row[1]} position {row[2]}" in r.stdout
