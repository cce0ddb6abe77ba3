"""Time travel against the live API: for random histories of sends, edits, recalls, member and
role changes, mutes and reads, what the live API answered at each moment is what
``/audit/conversations/{id}/state?at=`` answers for that moment (minus the audit-only fields)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import create_app
from projections.time_travel import TimeTravel
from tests.conftest import make_settings
from tests.e2e.audit_helpers import AUDIT, ROOT
from tests.helpers import API, PASSWORD, new_user, token_for

N = 4
MEMBER_FIELDS = ("user_id", "role", "status", "muted_until", "joined_at", "last_read_seq")
AUDIT_ONLY = ("original_content", "edits")
who = st.integers(0, N - 1)
ops = st.one_of(
    st.tuples(st.just("send"), who),
    st.tuples(st.just("edit"), who, st.integers(0, 30)),
    st.tuples(st.just("recall"), who, st.integers(0, 30)),
    st.tuples(st.just("add"), who),
    st.tuples(st.just("remove"), who),
    st.tuples(st.just("role"), who, st.sampled_from(["admin", "member"])),
    st.tuples(st.just("mute"), who, st.booleans()),
    st.tuples(st.just("read"), who),
)


class Live:
    """One app and its users for the whole module, on its own loop (hypothesis is sync)."""

    def __init__(self, data: Path) -> None:
        self.loop = asyncio.new_event_loop()
        settings_ = make_settings(data, first_superuser=ROOT, first_superuser_password=PASSWORD)
        self.app = create_app(settings_)
        self._life = self.app.router.lifespan_context(self.app)
        self.run(self._life.__aenter__())
        transport = httpx.ASGITransport(app=self.app)
        self.c = httpx.AsyncClient(transport=transport, base_url="http://live")
        self.users, self.h = self.run(self._users())
        self.count = 0
        # Snapshots every 3 events (not 2000), so states between and beyond them are exercised.
        time_travel = self.app.state.process.queries.time_travel  # the one the routes use
        assert isinstance(time_travel, TimeTravel)
        time_travel._every = 3

    async def _users(self) -> tuple[list[Any], list[dict[str, str]]]:
        pairs = [await new_user(self.c) for _ in range(N + 1)]
        root = {"Authorization": f"Bearer {await token_for(self.c, ROOT)}"}
        auditor = pairs[N][0]["id"]
        r = await self.c.put(
            f"{API}/users/{auditor}/auditor", json={"is_auditor": True}, headers=root
        )
        assert r.status_code == 200
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.c.aclose())
        self.run(self._life.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Any:
    world = Live(tmp_path_factory.mktemp("timetravel") / "data")
    yield world
    world.close()


async def _snapshot(live: Live, cid: int) -> tuple[list[Any], list[Any]]:
    owner = live.h[0]
    members = (await live.c.get(f"{API}/conversations/{cid}/members", headers=owner)).json()
    r = await live.c.get(
        f"{API}/messages/conversation/{cid}", params={"after_seq": 0, "limit": 200}, headers=owner
    )
    return [{k: m[k] for k in MEMBER_FIELDS} for m in members], r.json()


async def _apply(live: Live, cid: int, op: tuple[Any, ...], sent: list[Any]) -> int | None:
    c, h, ids = live.c, live.h, [u["id"] for u in live.users]
    kind, u = op[0], op[1]
    if kind == "send":
        live.count += 1
        body = {"conversation_id": cid, "content": f"m{live.count}"}
        r = await c.post(f"{API}/messages/text", json=body, headers=h[u])
        if r.status_code == 201:
            sent.append(r.json())
    elif kind in ("edit", "recall") and sent:
        m = sent[op[2] % len(sent)]
        author = ids.index(m["sender_id"])
        if kind == "edit":
            live.count += 1
            r = await c.put(
                f"{API}/messages/{m['id']}", json={"content": f"e{live.count}"}, headers=h[author]
            )
        else:
            r = await c.post(f"{API}/messages/{m['id']}/recall", headers=h[author])
    elif kind == "add":
        r = await c.post(
            f"{API}/conversations/{cid}/members", json={"user_ids": [ids[u]]}, headers=h[0]
        )
    elif kind == "remove" and u != 0:
        r = await c.delete(f"{API}/conversations/{cid}/members/{ids[u]}", headers=h[0])
    elif kind == "role" and u != 0:
        r = await c.put(
            f"{API}/conversations/{cid}/members/{ids[u]}", json={"role": op[2]}, headers=h[0]
        )
    elif kind == "mute" and u != 0:
        body = (
            {"status": "muted", "muted_until": "2099-01-01T00:00:00Z"}
            if op[2]
            else {"status": "active"}
        )
        r = await c.put(f"{API}/conversations/{cid}/members/{ids[u]}", json=body, headers=h[0])
    elif kind == "read":
        r = await c.post(f"{API}/messages/mark-read", json={"conversation_id": cid}, headers=h[u])
    else:
        return None
    assert r.status_code < 500, r.text
    pos = r.headers.get("x-event-position")
    return int(pos) if pos else None


async def _state(live: Live, cid: int, position: int) -> Any:
    params: dict[str, Any] = {"at": str(position), "limit": 200}
    r = await live.c.get(f"{AUDIT}/conversations/{cid}/state", params=params, headers=live.h[N])
    assert r.status_code == 200, r.text
    return r.json()


async def _history(live: Live, steps: list[tuple[Any, ...]]) -> None:
    c, h, ids = live.c, live.h, [u["id"] for u in live.users]
    r = await c.post(
        f"{API}/conversations/group", json={"name": "tt", "member_ids": ids[1:3]}, headers=h[0]
    )
    assert r.status_code == 201, r.text
    cid, position = r.json()["id"], int(r.headers["x-event-position"])
    moments = [(position, await _snapshot(live, cid))]
    sent: list[Any] = []
    for op in steps:
        # A write that changes nothing answers with an older position: the moment is the latest.
        position = max(position, await _apply(live, cid, op, sent) or 0)
        moments.append((position, await _snapshot(live, cid)))
    # Forwards (the fold extends), then backwards (from the snapshots it left).
    for position, (members, messages) in moments + moments[::-1]:
        state = await _state(live, cid, position)
        got = sorted(
            ({k: m[k] for k in MEMBER_FIELDS} for m in state["members"]), key=lambda m: m["user_id"]
        )
        assert got == sorted(members, key=lambda m: m["user_id"]), position
        then = [{k: v for k, v in m.items() if k not in AUDIT_ONLY} for m in state["messages"]]
        assert then == messages, position
        assert state["position"] == position


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(ops, min_size=1, max_size=14))
def test_time_travel_equals_what_the_live_api_said(
    live: Live, steps: list[tuple[Any, ...]]
) -> None:
    live.run(_history(live, steps))


def test_audit_only_fields_keep_every_text(live: Live) -> None:
    async def scenario() -> None:
        c, h, ids = live.c, live.h, [u["id"] for u in live.users]
        r = await c.post(
            f"{API}/conversations/group", json={"name": "t2", "member_ids": ids[1:2]}, headers=h[0]
        )
        cid = r.json()["id"]
        m = (
            await c.post(
                f"{API}/messages/text",
                json={"conversation_id": cid, "content": "first"},
                headers=h[1],
            )
        ).json()
        r = await c.put(f"{API}/messages/{m['id']}", json={"content": "second"}, headers=h[1])
        edited_at = int(r.headers["x-event-position"])
        r = await c.post(f"{API}/messages/{m['id']}/recall", headers=h[1])
        recalled_at = int(r.headers["x-event-position"])
        before = next(
            x for x in (await _state(live, cid, edited_at))["messages"] if x["id"] == m["id"]
        )
        assert (before["content"], before["original_content"], before["status"]) == (
            "second",
            "first",
            "edited",
        )
        assert [e["content"] for e in before["edits"]] == ["second"] and before[
            "recalled_at"
        ] is None
        after = next(
            x for x in (await _state(live, cid, recalled_at))["messages"] if x["id"] == m["id"]
        )
        assert after["status"] == "recalled" and after["content"] == ""
        assert after["original_content"] == "first" and [e["content"] for e in after["edits"]] == [
            "second"
        ]
        assert after["recalled_at"] is not None

    live.run(scenario())
