"""/asyncapi.json: a valid AsyncAPI 3.0 document whose schemas match what the server really sends
over the WebSocket and publishes to (and answers on) RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import jsonschema
import pytest
import websockets
from aio_pika.abc import AbstractIncomingMessage

from tests.helpers import API, ServerProcess, new_user, token_for, unique, wait_until
from tests.integration.cascade_harness import AMQP_URL
from tests.ws import ws_url

ROOT, ROOT_PASSWORD = "aa_root", "root-secret-1"
SPEC = Path(__file__).resolve().parents[1] / "fixtures" / "asyncapi-3.0.0.schema.json"


class Broker:
    def __init__(self) -> None:
        self.exchange = unique("test.asyncapi.")
        self.partner = self.exchange + ".partner"
        self.dlq = self.partner + ".dlq"
        self.replies = self.exchange + ".replies"
        self.events: list[AbstractIncomingMessage] = []
        self.answers: list[AbstractIncomingMessage] = []


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    b = Broker()
    yield b

    async def clean() -> None:
        conn = await aio_pika.connect(AMQP_URL)
        channel = await conn.channel()
        await channel.exchange_delete(b.exchange)
        for q in (b.partner, b.dlq, b.replies, b.exchange + ".all"):
            await channel.queue_delete(q)
        await conn.close()

    asyncio.run(clean())


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, broker: Broker) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("asyncapi"),
        IM_FIRST_SUPERUSER=ROOT,
        IM_FIRST_SUPERUSER_PASSWORD=ROOT_PASSWORD,
        IM_AMQP_URL=AMQP_URL,
        IM_AMQP_EXCHANGE=broker.exchange,
        IM_AMQP_PARTNER_QUEUE=broker.partner,
        IM_TYPING_TIMEOUT_SECONDS="0.3",
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


async def document(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.get("/asyncapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc: dict[str, Any] = r.json()
    return doc


def validator(doc: dict[str, Any], pointer: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at ``pointer`` in the document (its $refs resolve in it)."""
    return jsonschema.Draft202012Validator({**doc, "$ref": pointer})


def check(doc: dict[str, Any], pointer: str, value: Any) -> None:
    errors = list(validator(doc, pointer).iter_errors(value))
    assert not errors, f"{pointer}: {errors[0].message} in {json.dumps(value)[:500]}"


async def test_document_is_valid_asyncapi_3(http: httpx.AsyncClient) -> None:
    doc = await document(http)
    spec = json.loads(SPEC.read_text())
    errors = list(jsonschema.Draft7Validator(spec).iter_errors(doc))
    assert not errors, [e.message[:200] for e in errors[:3]]
    assert doc["asyncapi"] == "3.0.0"
    realtime = doc["channels"]["realtime"]
    assert realtime["address"] == "/api/v1/realtime/ws"
    codes = {c["code"] for c in realtime["x-close-codes"]}
    assert codes == {4401, 4400, 4409, 4408, 1013, 1011, 1012}
    assert {"new_message", "connection_established", "client_ping"} <= set(realtime["messages"])
    cascade = doc["channels"]["cascadeEvents"]["bindings"]["amqp"]["exchange"]
    assert cascade["type"] == "topic"
    # Internal bookkeeping is not described (nor published); the user events are.
    events = doc["channels"]["cascadeEvents"]["messages"]
    assert "UserRegistered" in events and "IdBlockReserved" not in events
    data = doc["components"]["schemas"]["UserRegisteredData"]["properties"]
    assert "standard_id" in data and "password_hash" not in data
    # Every $ref points at something that exists.
    for ref in re.findall(r'"\$ref": ?"#/([^"]+)"', json.dumps(doc)):
        node: Any = doc
        for part in ref.split("/"):
            node = node[part]


async def test_asyncapi_page_renders_offline(http: httpx.AsyncClient) -> None:
    page = (await http.get("/asyncapi")).text
    assert '<asyncapi-viewer src="/asyncapi.json"' in page
    assert "http://" not in page and "https://" not in page
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert (await http.get(src)).status_code == 200


class Socket:
    """A connected client that keeps every frame it receives."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.frames.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    def kinds(self) -> set[str]:
        return {f["type"] for f in self.frames}


async def connect(server: ServerProcess, token: str) -> Socket:
    ws = await websockets.connect(ws_url(server.url, token), ping_interval=None)
    return Socket(ws)


async def test_real_frames_and_messages_match_their_schemas(
    server: ServerProcess, http: httpx.AsyncClient, broker: Broker
) -> None:
    conn = await aio_pika.connect(AMQP_URL)
    try:
        channel = await conn.channel()
        exchange = await channel.declare_exchange(
            broker.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        everything = await channel.declare_queue(broker.exchange + ".all", exclusive=True)
        await everything.bind(exchange, "#")
        await everything.consume(keep(broker.events), no_ack=True)
        replies = await channel.declare_queue(broker.replies, exclusive=True)
        await replies.consume(keep(broker.answers), no_ack=True)
        await exercise(server, http, broker, channel)
    finally:
        await conn.close()


def keep(into: list[AbstractIncomingMessage]) -> Any:
    async def on_message(message: AbstractIncomingMessage) -> None:
        into.append(message)

    return on_message


async def exercise(
    server: ServerProcess, http: httpx.AsyncClient, broker: Broker, channel: Any
) -> None:
    root = {"Authorization": f"Bearer {await token_for(http, ROOT, ROOT_PASSWORD)}"}
    _alice, ah = await new_user(http)
    bob, bh = await new_user(http)
    carol, ch = await new_user(http)
    token = {k: h["Authorization"].removeprefix("Bearer ") for k, h in [("a", ah), ("b", bh)]}
    a = await connect(server, token["a"])
    b = await connect(server, token["b"])
    await a.ws.send(json.dumps({"type": "ping"}))
    await a.ws.send(json.dumps({"type": "pong"}))
    await a.ws.send("not json")

    r = await http.post(
        f"{API}/conversations/group", json={"name": "Spec", "member_ids": [bob["id"]]}, headers=ah
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    r = await http.post(
        f"{API}/messages/text", json={"conversation_id": cid, "content": "hi"}, headers=ah
    )
    assert r.status_code in (200, 201), r.text
    mid = r.json()["id"]
    steps: list[tuple[str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("PUT", f"/messages/{mid}", {"content": "hi!"}, ah),
        ("POST", "/messages/mark-read", {"conversation_id": cid, "message_id": mid}, bh),
        ("POST", "/messages/typing", {"conversation_id": cid}, bh),
        ("POST", f"/messages/{mid}/recall", None, ah),
        ("POST", f"/conversations/{cid}/members", {"user_ids": [carol["id"]]}, ah),
        ("CONNECT", "carol", None, ch),  # online: a user_status_changed to a and b
        ("PUT", f"/conversations/{cid}/members/{carol['id']}", {"role": "admin"}, ah),
        ("DELETE", f"/conversations/{cid}/members/{carol['id']}", None, ah),
        ("PUT", f"/conversations/{cid}", {"description": "specified"}, ah),
        ("POST", "/realtime/broadcast", {"title": "t", "content": "c"}, root),
        ("DELETE", f"/conversations/{cid}", None, ah),
    ]
    sockets = [a, b]
    for method, path, body, headers in steps:
        if method == "CONNECT":
            sockets.append(await connect(server, headers["Authorization"].removeprefix("Bearer ")))
            continue
        r = await http.request(method, API + path, json=body, headers=headers)
        assert r.status_code < 300, (path, r.text)

    sync = {"users": [{"standard_id": unique("p"), "name": "Partner user"}]}
    await channel.default_exchange.publish(
        aio_pika.Message(json.dumps(sync).encode(), reply_to=broker.replies, message_id="m1"),
        routing_key=broker.partner,
    )
    wanted = {
        "connection_established",
        "pong",
        "error",
        "new_message",
        "message_edited",
        "message_recalled",
        "mark_read",
        "conversation_created",
        "conversation_updated",
        "conversation_dissolved",
        "member_added",
        "member_removed",
        "role_changed",
        "broadcast_received",
        "typing",
        "user_status_changed",
    }

    async def everything_arrived() -> bool:
        published = {m.type for m in broker.events}
        return (
            wanted <= a.kinds() | b.kinds()
            and {"ConversationDissolved", "BroadcastSent"} <= published
            and bool(broker.answers)
        )

    await wait_until(everything_arrived, timeout=20)
    for sock in sockets:
        await sock.ws.close()
        await sock.task

    doc = await document(http)
    for frame in [f for sock in sockets for f in sock.frames]:
        check(doc, f"#/components/messages/{frame['type']}/payload", frame)
    properties = doc["components"]["schemas"]["AmqpProperties"]
    for m in broker.events:
        assert m.type is not None
        body = json.loads(m.body)
        message = doc["components"]["messages"][m.type]
        check(doc, f"#/components/messages/{m.type}/payload", body)
        pattern = re.escape(message["x-routing-key"]).replace(r"\{aggregate_id\}", r"[^.]+")
        pattern = pattern.replace(r"\{category\}", r"[a-z0-9_]+")
        assert re.fullmatch(pattern, m.routing_key or ""), (m.routing_key, pattern)
        props = {
            "message_id": m.message_id,
            "type": m.type,
            "timestamp": int(m.timestamp.timestamp()) if m.timestamp else None,
            "content_type": m.content_type,
            "delivery_mode": int(m.delivery_mode) if m.delivery_mode else None,
        }
        check(doc, "#/components/schemas/AmqpProperties", props)
        assert props["message_id"] == body["id"]
    assert properties["properties"]["delivery_mode"]["const"] == 2
    answer = broker.answers[0]
    assert answer.correlation_id == "m1"
    check(doc, "#/components/messages/SyncResult/payload", json.loads(answer.body))
    check(doc, "#/components/messages/SyncUsers/payload", sync)
