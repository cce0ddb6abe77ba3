"""The cascade inside ``im serve`` against the real RabbitMQ: HTTP writes reach the exchange,
lag is reported, and the partner user queue dead-letters malformed messages."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from tests.conftest import make_settings
from tests.helpers import API, PASSWORD, register, token_for, unique, wait_until
from tests.integration.cascade_harness import AMQP_URL

ROOT = "cascade_root"


class World:
    def __init__(self, client: httpx.AsyncClient, channel: aio_pika.abc.AbstractChannel) -> None:
        self.client = client
        self.channel = channel
        self.events: list[AbstractIncomingMessage] = []
        self.partner_queue = ""
        self.dlq: AbstractQueue | None = None


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    from gateway.app import create_app

    name = unique("test.serve.")
    partner, dlq_name = name + ".partner", name + ".partner.dlq"
    conn = await aio_pika.connect(AMQP_URL)
    channel = await conn.channel()
    exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    everything = await channel.declare_queue(name + ".all", exclusive=True)
    await everything.bind(exchange, "#")
    # The partner queue as the server declares it, so nothing published before it starts is lost.
    dlq = await channel.declare_queue(dlq_name, durable=True)
    await channel.declare_queue(
        partner,
        durable=True,
        arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dlq_name},
    )
    settings = make_settings(
        tmp_path / "data",
        amqp_url=AMQP_URL,
        amqp_exchange=name,
        amqp_partner_queue=partner,
        first_superuser=ROOT,
        first_superuser_password=PASSWORD,
    )
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                w = World(client, channel)
                w.partner_queue, w.dlq = partner, dlq
                await everything.consume(_collect(w.events), no_ack=True)
                yield w
    finally:
        await channel.exchange_delete(name)
        for q in (partner, dlq_name):
            await channel.queue_delete(q)
        await conn.close()


def _collect(into: list[AbstractIncomingMessage]) -> Any:
    async def on_message(message: AbstractIncomingMessage) -> None:
        into.append(message)

    return on_message


async def test_http_writes_reach_partners_without_secrets(world: World) -> None:
    c = world.client
    user = await register(c, name="Relayed")
    key = f"user.user_registered.{user['id']}"

    async def arrived() -> bool:
        return any(m.routing_key == key for m in world.events)

    await wait_until(arrived)
    msg = next(m for m in world.events if m.routing_key == key)
    body = json.loads(msg.body)
    assert msg.message_id == body["id"] and msg.type == "UserRegistered"
    assert msg.content_type == "application/json" and msg.delivery_mode == 2
    assert msg.timestamp is not None
    assert body["data"]["standard_id"] == user["standard_id"]
    assert all(b"password_hash" not in m.body and b"argon2" not in m.body for m in world.events)

    ready = (await c.get("/ready")).json()
    relay = ready["relay"]
    assert relay["connected"] is True and relay["error"] is None
    assert relay["lag"] == ready["head"] - relay["position"] >= 0
    assert ready["followers"]["relay"]["position"] == relay["position"]

    async def caught_up() -> bool:
        r = (await c.get("/ready")).json()
        return bool(r["relay"]["lag"] == 0)

    await wait_until(caught_up)
    text = (await c.get("/metrics")).text
    assert "im_relay_lag_events 0.0" in text and "im_relay_connected 1.0" in text


async def test_partner_queue_dead_letters_malformed_and_goes_on(world: World) -> None:
    c, ch = world.client, world.channel
    anna, ben = unique("anna"), unique("ben")
    replies = await ch.declare_queue(exclusive=True)
    answers: list[AbstractIncomingMessage] = []
    await replies.consume(_collect(answers), no_ack=True)

    def message(body: bytes, mid: str, **kw: Any) -> aio_pika.Message:
        return aio_pika.Message(body, message_id=mid, delivery_mode=2, **kw)

    valid_1 = json.dumps(
        {"users": [{"standard_id": anna, "name": "Anna"}, {"standard_id": ben, "name": "Ben"}]}
    ).encode()
    valid_2 = json.dumps({"users": [{"standard_id": anna, "name": "Anna Two"}]}).encode()
    too_many = json.dumps(
        {"users": [{"standard_id": f"x{i}", "name": "x"} for i in range(1001)]}
    ).encode()
    sequence = [
        message(b"{not json", "bad-json"),
        message(b'{"users": "nope"}', "bad-shape"),
        message(valid_1, "ok-1", reply_to=replies.name, correlation_id="c-1"),
        message(b"", "empty"),
        message(too_many, "too-many"),
        message(valid_2, "ok-2", reply_to=replies.name),
    ]
    for m in sequence:
        await ch.default_exchange.publish(m, routing_key=world.partner_queue)

    await wait_until(lambda: _true(len(answers) == 2), timeout=20)
    by_id = {a.correlation_id: json.loads(a.body) for a in answers}
    assert (by_id["c-1"]["created"], by_id["c-1"]["errors"]) == (2, [])
    assert by_id["ok-2"]["updated"] == 1  # processed after ok-1, in queue order

    dead: list[AbstractIncomingMessage] = []
    assert world.dlq is not None
    deadline = time.monotonic() + 10
    while len(dead) < 4 and time.monotonic() < deadline:
        got = await world.dlq.get(fail=False, no_ack=True)
        if got is None:
            await asyncio.sleep(0.05)
        else:
            dead.append(got)
    assert sorted(d.message_id or "" for d in dead) == [
        "bad-json",
        "bad-shape",
        "empty",
        "too-many",
    ]
    deaths = [d.headers["x-death"] for d in dead]
    assert all(isinstance(x, list) and x[0]["reason"] == "rejected" for x in deaths)  # type: ignore[index, call-overload]

    token = await token_for(c, ROOT)
    found = await c.get(
        f"{API}/users/search",
        params={"keyword": anna},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert [u["name"] for u in found.json()] == ["Anna Two"]
    partner = await ch.declare_queue(world.partner_queue, passive=True)
    assert partner.declaration_result.message_count == 0  # everything acked or dead-lettered


async def _true(value: bool) -> bool:
    return value
