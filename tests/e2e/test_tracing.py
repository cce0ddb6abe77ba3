"""``X-Request-ID`` and event attribution: who appended an event, in which request."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette

from domain import conversations as c
from domain.chain import ChainState
from domain.codec import parse_metadata
from tests.e2e.chat_helpers import group, send, users
from tests.helpers import API


async def _events(app: Starlette, stream: str) -> list[Any]:
    return list(await app.state.process.commands.events.read(stream))


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={"X-Request-ID": "trace-abc.1"})
    assert r.headers["x-request-id"] == "trace-abc.1"
    generated = {(await client.get("/health")).headers["x-request-id"] for _ in range(3)}
    assert len(generated) == 3 and all(len(g) == 32 for g in generated)
    # An unusable id (spaces, too long) is replaced, not echoed.
    r = await client.get("/health", headers={"X-Request-ID": "x" * 201})
    assert r.headers["x-request-id"] != "x" * 201 and len(r.headers["x-request-id"]) == 32
    # Errors carry it too.
    r = await client.get(f"{API}/users/me", headers={"X-Request-ID": "unauth-1"})
    assert r.status_code == 401 and r.headers["x-request-id"] == "unauth-1"


async def test_events_carry_actor_and_correlation(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    (a, ha), (b, hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    # Concurrent sends are group-committed into one append; each keeps its own request's trace.
    rs = await asyncio.gather(
        *[
            send(client, {**h, "X-Request-ID": f"req-{i}"}, g["id"], f"m{i}")
            for i, h in enumerate([ha, hb, ha, hb, ha, hb])
        ]
    )
    assert all(r.status_code == 201 for r in rs)
    recs = await _events(app, c.messages_stream(g["id"]))
    by_content = {rec.decode().content: rec for rec in recs if rec.type == "MessageSent"}
    for i, uid in enumerate([a["id"], b["id"]] * 3):
        meta = parse_metadata(by_content[f"m{i}"].metadata)
        assert (meta.actor and meta.actor.kind, meta.actor and meta.actor.id) == ("user", uid)
        assert meta.correlation_id == f"req-{i}" and meta.causation_id is None
        assert meta.hash is not None and meta.prev_hash is not None
    chain = ChainState()
    for rec in recs:
        chain.check(rec.stream, rec.type, rec.data, rec.metadata)
    assert chain.unchained == 0 and chain.checked == len(recs)


async def test_policy_events_are_caused_by_their_event(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    (_a, ha), (b, _hb) = await users(client, 2)
    g = await group(client, ha, [b["id"]])
    ping = f"ping @{b['standard_id']}"  # a mention: the policy notifies b
    r = await send(client, {**ha, "X-Request-ID": "cause-1"}, g["id"], ping)
    assert r.status_code == 201
    sent = next(
        rec
        for rec in await _events(app, c.messages_stream(g["id"]))
        if rec.type == "MessageSent" and rec.decode().content == ping
    )
    # The notification policy reacts asynchronously: wait for its event with a deadline.
    events = app.state.process.commands.events
    async with asyncio.timeout(10):
        while True:
            found = [
                rec
                async for rec in _after(events, sent.position)
                if parse_metadata(rec.metadata).causation_id == sent.id
            ]
            if found:
                break
            await asyncio.sleep(0.02)
    meta = parse_metadata(found[0].metadata)
    assert meta.correlation_id == "cause-1"
    assert meta.actor is not None and meta.actor.kind == "system"


async def _after(events: Any, position: int) -> Any:
    for rec in await events.read_all(position, 1000):
        yield rec
