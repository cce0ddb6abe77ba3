"""The previous system's RabbitMQ protocol against the real broker (``IM_CASCADE_FORMAT=legacy``,
names prefixed uniquely per test and deleted afterwards): a consumer bound the legacy way
receives every ``{cmd, data}`` body of a scripted group's life; inbound ``user_import`` is
idempotent; status, watermark and platform updates take effect; bad messages are dead-lettered
with the reason; a killed server and a dropped connection lose nothing."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from tests.helpers import API, ServerProcess, new_user, unique, wait_until
from tests.integration.cascade_harness import AMQP_URL
from tests.integration.cascade_harness import _rabbitmqctl as rabbitmqctl
from tests.ws import live

ROOT, ROOT_PASSWORD = "legacy_root", "root-secret-1"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(200))
PDF = b"%PDF-1.4\n" + b"x" * 200


class Legacy:
    """A broker-side view of one server's legacy names, with queues bound the legacy way."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, prefix: str) -> None:
        self.channel = channel
        self.prefix = prefix
        self.queues: list[str] = []
        self.exchanges: list[str] = [
            f"{prefix}exchange_instant_base",
            f"{prefix}conversation.incoming",
        ]
        self.got: dict[str, list[AbstractIncomingMessage]] = {}

    async def user_queue(self, standard_id: str) -> str:
        """A client's notice queue: ``u_{standard_id}`` on exchange_instant_base."""
        return await self._queue(f"{self.prefix}exchange_instant_base", f"u_{standard_id}")

    async def conversation_queue(self, conversation_id: int) -> str:
        """A client's ``queue_u_{user}_{random}`` on the conversation's fanout exchange."""
        name = f"{self.prefix}exchange_c_{conversation_id}"
        self.exchanges.append(name)
        return await self._queue(name, "", kind=aio_pika.ExchangeType.FANOUT)

    async def _queue(
        self, exchange: str, key: str, kind: aio_pika.ExchangeType = aio_pika.ExchangeType.TOPIC
    ) -> str:
        ex = await self.channel.declare_exchange(exchange, kind, durable=True)
        name = unique(f"{self.prefix}queue_u_")
        queue = await self.channel.declare_queue(name, exclusive=True)
        await queue.bind(ex, key)
        self.queues.append(name)
        self.got[name] = []
        await queue.consume(self._collect(name), no_ack=True)
        return name

    def _collect(self, name: str) -> Any:
        async def on_message(message: AbstractIncomingMessage) -> None:
            self.got[name].append(message)

        return on_message

    def bodies(self, queue: str) -> list[dict[str, Any]]:
        return [json.loads(m.body) for m in self.got[queue]]

    async def wait(self, queue: str, n: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.got[queue]) < n:
            assert time.monotonic() < deadline, f"{queue}: {self.bodies(queue)}"
            await asyncio.sleep(0.02)
        return self.bodies(queue)

    async def publish(self, body: bytes, message_id: str | None = None) -> None:
        ex = await self.channel.get_exchange(f"{self.prefix}exchange_instant_base")
        await ex.publish(
            aio_pika.Message(body, message_id=message_id or unique("m")), "instant.base"
        )

    async def cleanup(self) -> None:
        for q in self.queues:
            await self.channel.queue_delete(q)
        for name in (f"{self.prefix}queue_instant_base", f"{self.prefix}queue_instant_base.dlq"):
            await self.channel.queue_delete(name)
        for ex in self.exchanges:
            await self.channel.exchange_delete(ex)


def legacy_env(prefix: str, fmt: str = "legacy") -> dict[str, str]:
    return {
        "IM_AMQP_URL": AMQP_URL,
        "IM_AMQP_EXCHANGE": prefix + "envelope",
        "IM_AMQP_PARTNER_QUEUE": "",
        "IM_AMQP_RECONNECT_SECONDS": "0.2",
        "IM_CASCADE_FORMAT": fmt,
        "IM_CASCADE_LEGACY_PREFIX": prefix,
        "IM_CASCADE_LEGACY_TIMEZONE": "Asia/Shanghai",
        "IM_FIRST_SUPERUSER": ROOT,
        "IM_FIRST_SUPERUSER_PASSWORD": ROOT_PASSWORD,
    }


@pytest.fixture
async def broker() -> AsyncIterator[tuple[aio_pika.abc.AbstractChannel, str]]:
    prefix = unique("test.legacy.") + "."
    conn = await aio_pika.connect(AMQP_URL)
    channel = await conn.channel()
    try:
        yield channel, prefix
    finally:
        await conn.close()


@pytest.fixture
async def world(
    tmp_path: Path, broker: tuple[aio_pika.abc.AbstractChannel, str], request: Any
) -> AsyncIterator[tuple[Legacy, ServerProcess, httpx.AsyncClient]]:
    channel, prefix = broker
    legacy = Legacy(channel, prefix)
    legacy.exchanges.append(prefix + "envelope")
    fmt = getattr(request, "param", "legacy")
    server = ServerProcess(tmp_path / "srv", **legacy_env(prefix, fmt)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            yield legacy, server, http
    finally:
        server.stop()
        await legacy.cleanup()


async def ok(r: httpx.Response | Any) -> Any:
    response = await r if not isinstance(r, httpx.Response) else r
    assert 200 <= response.status_code < 300, response.text
    return response.json() if response.content else None


async def upload(http: httpx.AsyncClient, h: dict[str, str], name: str, content: bytes) -> Any:
    r = await http.post(f"{API}/files/upload", files={"file": (name, content)}, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


async def test_a_groups_life_reaches_legacy_consumers(
    world: tuple[Legacy, ServerProcess, httpx.AsyncClient],
) -> None:
    legacy, _, http = world
    (a, ha), (b, hb), (c, _hc), (d, _) = [await new_user(http) for _ in range(4)]
    people = {u["id"]: u["standard_id"] for u in (a, b, c, d)}
    inbox = {u["id"]: await legacy.user_queue(u["standard_id"]) for u in (a, b, c, d)}

    # create: every initial member is told, with the owner as master
    body = {"name": "值班组", "member_ids": [b["id"], c["id"]]}
    group = await ok(await http.post(f"{API}/conversations/group", json=body, headers=ha))
    gid = group["id"]
    for uid in (a["id"], b["id"], c["id"]):
        (created,) = await legacy.wait(inbox[uid], 1)
        assert created == {
            "cmd": "create_conversation",
            "data": {
                "conversation_id": gid,
                "type": "group",
                "name": "值班组",
                "master_standard_id": a["standard_id"],
                "persons": [
                    {"id": u, "standard_id": people[u]} for u in (a["id"], b["id"], c["id"])
                ],
            },
        }
    # the conversation's fanout exchange exists from creation on: a client binds to it
    room = await legacy.conversation_queue(gid)

    # join
    await ok(
        http.post(f"{API}/conversations/{gid}/members", json={"user_ids": [d["id"]]}, headers=ha)
    )
    for uid in (a["id"], b["id"], c["id"], d["id"]):
        notices = await legacy.wait(inbox[uid], 1 if uid == d["id"] else 2)
        assert notices[-1] == {
            "cmd": "join_conversation",
            "data": {"conversation_id": gid, "persons": [{"standard_id": d["standard_id"]}]},
        }

    # send: text, an image and a PDF, each a {cmd: "msg"} with the legacy type
    text = await ok(
        http.post(
            f"{API}/messages/text", json={"conversation_id": gid, "content": "收到"}, headers=hb
        )
    )
    png = await upload(http, hb, "现场.png", PNG)
    image = await ok(
        http.post(
            f"{API}/messages/file",
            json={"conversation_id": gid, "file_id": png["file_id"], "message_type": "image"},
            headers=hb,
        )
    )
    pdf = await upload(http, ha, "报告.pdf", PDF)
    doc = await ok(
        http.post(
            f"{API}/messages/file",
            json={"conversation_id": gid, "file_id": pdf["file_id"]},
            headers=ha,
        )
    )
    msgs = await legacy.wait(room, 3)
    assert [m["cmd"] for m in msgs] == ["msg", "msg", "msg"]
    assert [m["data"]["id"] for m in msgs] == [text["id"], image["id"], doc["id"]]
    for m, sender in zip(msgs, (b, b, a), strict=True):
        assert m["data"]["conversation_id"] == gid
        assert m["data"]["publisher_standard_id"] == sender["standard_id"]
        assert re.fullmatch(r"20\d{12}", m["data"]["create_time"])
    (p0,), (p1,), (p2,) = (m["data"]["profile"] for m in msgs)
    assert p0 == {"id": text["id"], "type": 0, "name": "收到", "path": "", "audio_duration": 0}
    assert (p1["type"], p1["name"]) == (2, "现场.png") and png["file_id"] in p1["path"]
    assert (p2["type"], p2["name"]) == (4, "报告.pdf")
    # create_time is the message's time in IM_CASCADE_LEGACY_TIMEZONE (Asia/Shanghai, +08:00)
    sent = dt.datetime.fromisoformat(text["created_at"].replace("Z", "+00:00"))
    shanghai = sent.astimezone(zoneinfo.ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")
    assert msgs[0]["data"]["create_time"] == shanghai

    # rename
    await ok(http.put(f"{API}/conversations/{gid}", json={"name": "夜班组"}, headers=ha))
    for uid in (a["id"], b["id"], c["id"], d["id"]):
        assert (await legacy.wait(inbox[uid], 3 if uid != d["id"] else 2))[-1] == {
            "cmd": "update_name_conversation",
            "data": {"conversation_id": gid, "name": "夜班组"},
        }

    # remove a member: expulsion, to the members and the removed one
    await ok(http.delete(f"{API}/conversations/{gid}/members/{c['id']}", headers=ha))
    expelled = {
        "cmd": "expulsion_conversation",
        "data": {
            "conversation_id": gid,
            "persons": [{"id": c["id"], "standard_id": c["standard_id"]}],
        },
    }
    for uid, n in ((a["id"], 4), (b["id"], 4), (c["id"], 4), (d["id"], 3)):
        assert (await legacy.wait(inbox[uid], n))[-1] == expelled

    # quit (d leaves)
    await ok(
        http.delete(
            f"{API}/conversations/{gid}/members/{d['id']}", headers=(await token_headers(http, d))
        )
    )
    quit_ = {
        "cmd": "quit_conversation",
        "data": {
            "conversation_id": gid,
            "person": {"id": d["id"], "standard_id": d["standard_id"]},
        },
    }
    for uid, n in ((a["id"], 5), (b["id"], 5), (d["id"], 4)):
        assert (await legacy.wait(inbox[uid], n))[-1] == quit_

    # transfer ownership to b
    await ok(
        http.put(f"{API}/conversations/{gid}/members/{b['id']}", json={"role": "owner"}, headers=ha)
    )
    master = {
        "cmd": "change_master_conversation",
        "data": {"conversation_id": gid, "master_standard_id": b["standard_id"]},
    }
    for uid in (a["id"], b["id"]):
        assert (await legacy.wait(inbox[uid], 6))[-1] == master

    # dissolve (the new owner)
    await ok(http.delete(f"{API}/conversations/{gid}", headers=hb))
    for uid in (a["id"], b["id"]):
        assert (await legacy.wait(inbox[uid], 7))[-1] == {
            "cmd": "dissolution_conversation",
            "data": {"conversation_id": gid},
        }
    # nobody else heard anything more, and the chat exchange carried only the three messages
    await asyncio.sleep(0.3)
    assert len(legacy.got[inbox[c["id"]]]) == 4 and len(legacy.got[inbox[d["id"]]]) == 4
    assert len(legacy.got[room]) == 3
    # AMQP properties: the cmd as type, a stable message id, JSON
    first = legacy.got[room][0]
    assert first.type == "msg" and first.content_type == "application/json" and first.message_id


async def test_broadcasts_and_reported_events_reach_legacy_consumers(
    world: tuple[Legacy, ServerProcess, httpx.AsyncClient],
) -> None:
    legacy, _, http = world
    broadcasts = await legacy._queue(f"{legacy.prefix}exchange_instant_base", "broadcast")
    events = await legacy._queue(f"{legacy.prefix}exchange_instant_base", "event")
    root = await token_headers(http, {"standard_id": ROOT}, ROOT_PASSWORD)
    reporter, hr = await new_user(http)
    photo = await upload(http, root, "通知.png", PNG)
    doc = await upload(http, root, "notes.pdf", PDF)  # not voice, image or video: not listed
    body = {
        "title": "停电通知",
        "content": "今晚停电",
        "priority": "high",
        "attachments": [photo["file_id"], doc["file_id"]],
    }
    sent = await ok(http.post(f"{API}/broadcasts/", json=body, headers=root))
    (b,) = await legacy.wait(broadcasts, 1)
    assert b["cmd"] == "broadcast"
    data = b["data"]
    assert data["id"] == sent["id"] and data["body"] == "今晚停电" and data["title"] == "停电通知"
    assert data["publisher_standard_id"] == ROOT and re.fullmatch(r"\d{14}", data["create_time"])
    assert [(p["type"], p["name"]) for p in data["profile"]] == [(2, "通知.png")]
    assert photo["file_id"] in data["profile"][0]["path"]
    shot = await upload(http, hr, "scene.png", PNG)
    report = {
        "event_type": "alarm",
        "title": "火情",
        "body": "三楼冒烟",
        "level": 3,
        "latitude": "39.9042",
        "longitude": 116.4074,
        "address": "北京",
        "attachments": [shot["file_id"]],
    }
    reported = await ok(http.post(f"{API}/events/", json=report, headers=hr))
    (e,) = await legacy.wait(events, 1)
    assert e["cmd"] == "event"
    data = e["data"]
    assert data["id"] == reported["id"] and data["publisher_standard_id"] == reporter["standard_id"]
    assert (data["latitude"], data["longitude"]) == ("39.9042", "116.4074")  # strings
    assert (data["body"], data["title"], data["event_level"]) == ("三楼冒烟", "火情", 3)
    assert [(p["type"], p["name"]) for p in data["profile"]] == [(2, "scene.png")]


async def token_headers(
    http: httpx.AsyncClient, user: dict[str, Any], password: str = "secret123"
) -> dict[str, str]:
    r = await http.post(
        f"{API}/auth/login/access-token",
        data={"username": user["standard_id"], "password": password},
    )
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def head(http: httpx.AsyncClient) -> int:
    return int((await http.get("/ready")).json()["head"])


@pytest.mark.parametrize("world", ["both"], indirect=True)
async def test_inbound_commands(world: tuple[Legacy, ServerProcess, httpx.AsyncClient]) -> None:
    """With ``IM_CASCADE_FORMAT=both``: the envelope relay runs next to the legacy one."""
    legacy, server, http = world
    _me, hm = await new_user(http)
    watermarks = await legacy._queue(f"{legacy.prefix}exchange_instant_base", "u_.water_mark")
    envelopes = await legacy._queue(f"{legacy.prefix}envelope", "watermark.#")
    sid = unique("c")[:20]
    imported = [{"standard_id": sid, "name": "中心用户", "sex": 1, "platform_id": "p1"}]
    body = json.dumps({"cmd": "user_import", "data": imported}).encode()

    async def found() -> list[Any]:
        r = await http.get(f"{API}/users/search", params={"keyword": sid}, headers=hm)
        return [u for u in r.json() if u["standard_id"] == sid]

    await legacy.publish(body)
    await wait_until(lambda: _nonempty(found()))
    (user,) = await found()
    assert user["name"] == "中心用户"
    before = await head(http)
    await legacy.publish(body)  # the same import again
    # a watermark after it: once it is re-published, the repeat has been handled (in order)
    mark = {"id": 7, "mark": True, "transparency": 40, "name": True, "phone": False, "date": True}
    async with live(server.url, hm["Authorization"].removeprefix("Bearer ")) as ws:
        await legacy.publish(json.dumps({"cmd": "update_water_mark", "data": mark}).encode())
        (republished,) = await legacy.wait(watermarks, 1)
        assert republished == {"cmd": "update_water_mark", "data": mark}
        frame = await ws.expect("watermark_updated")
        assert frame["data"] == {
            "watermark_id": 7,
            "mark": True,
            "transparency": 40,
            "name": True,
            "phone": False,
            "date": True,
        }
    assert await head(http) == before + 1  # only the watermark: the repeat import changed nothing
    (envelope,) = await legacy.wait(envelopes, 1)  # the same event as the envelope, attributed
    assert envelope["type"] == "WaterMarkUpdated" and envelope["data"]["transparency"] == 40
    assert envelope["actor"] == {"kind": "partner", "id": "legacy-center"}
    followers = (await http.get("/ready")).json()["followers"]
    assert {"relay", "legacy-relay"} <= set(followers)  # both relays run, each with its position
    assert [u["name"] for u in await found()] == ["中心用户"]
    # a renamed import updates
    renamed = [{"standard_id": sid, "name": "改名", "sex": 1, "platform_id": "p1"}]
    await legacy.publish(json.dumps({"cmd": "user_import", "data": renamed}).encode())
    await wait_until(lambda: _named(found(), "改名"))

    # user_status_update feeds presence
    status = [{"standard_id": sid, "online": 1, "platform_id": "p1", "type": 2, "token": "t"}]
    await legacy.publish(json.dumps({"cmd": "user_status_update", "data": status}).encode())

    async def online() -> bool:
        r = await http.get(f"{API}/realtime/online-users", headers=hm)
        return user["id"] in r.json()["online_users"]

    await wait_until(online)
    status[0]["online"] = 0
    await legacy.publish(json.dumps({"cmd": "user_status_update", "data": status}).encode())
    await wait_until(lambda: _not(online()))

    # platform_mq_update is stored (as an event; not its password), once per change
    platforms = [
        {
            "platform_id": "p1",
            "mq_host": "10.0.0.5",
            "mq_port": 5672,
            "mq_user": "center",
            "mq_password": "s3cret",
            "mq_vhost": "/instant",
        }
    ]
    before = await head(http)
    for _ in range(2):
        await legacy.publish(json.dumps({"cmd": "platform_mq_update", "data": platforms}).encode())
    await legacy.publish(
        json.dumps({"cmd": "update_water_mark", "data": {**mark, "id": 8}}).encode()
    )
    await legacy.wait(watermarks, 2)
    assert await head(http) == before + 2  # one platform event and the second watermark
    stored = await asyncio.to_thread(_stored_bytes, Path(server.env["IM_DATA_DIR"]))
    assert b"10.0.0.5" in stored and b"s3cret" not in stored


def _stored_bytes(data: Path) -> bytes:
    """The event store's files as bytes (the database and its write-ahead log)."""
    return b"".join(p.read_bytes() for p in data.glob("events*") if p.is_file())


async def _nonempty(found: Any) -> bool:
    return bool(await found)


async def _named(found: Any, name: str) -> bool:
    return [u["name"] for u in await found] == [name]


async def _not(cond: Any) -> bool:
    return not await cond


async def test_bad_messages_go_to_the_dead_letter_queue_with_the_reason(
    world: tuple[Legacy, ServerProcess, httpx.AsyncClient],
) -> None:
    legacy, _, http = world
    _, hm = await new_user(http)
    dlq = f"{legacy.prefix}queue_instant_base.dlq"
    bad = [
        (b"not json", "not a legacy command"),
        (b'{"cmd": "launch", "data": []}', "launch"),
        (b'{"cmd": "user_import", "data": [{"standard_id": 5}]}', "standard_id"),
        (b'{"cmd": "update_water_mark", "data": {"id": 1}}', "mark"),
    ]
    for i, (body, _) in enumerate(bad):
        await legacy.publish(body, message_id=f"bad-{i}")
    sid = unique("ok")[:20]
    good = {"cmd": "user_import", "data": [{"standard_id": sid, "name": "after", "sex": 0}]}
    await legacy.publish(json.dumps(good).encode())  # not blocked by the bad ones

    async def imported() -> bool:
        r = await http.get(f"{API}/users/search", params={"keyword": sid}, headers=hm)
        return any(u["standard_id"] == sid for u in r.json())

    await wait_until(imported)
    queue: AbstractQueue = await legacy.channel.declare_queue(dlq, durable=True)
    dead: list[AbstractIncomingMessage] = []
    deadline = time.monotonic() + 10
    while len(dead) < len(bad) and time.monotonic() < deadline:
        got = await queue.get(fail=False, no_ack=True)
        if got is None:
            await asyncio.sleep(0.05)
        else:
            dead.append(got)
    assert [d.message_id for d in dead] == [f"bad-{i}" for i in range(len(bad))]
    for d, (body, why) in zip(dead, bad, strict=True):
        assert d.body == body
        reason = d.headers["x-im-dead-letter-reason"]
        assert isinstance(reason, str) and why in reason, reason


async def test_kill_and_dropped_connections_lose_no_chat_message(
    tmp_path: Path, broker: tuple[aio_pika.abc.AbstractChannel, str]
) -> None:
    channel, prefix = broker
    legacy = Legacy(channel, prefix)
    server = ServerProcess(tmp_path / "srv", **legacy_env(prefix)).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            (a, ha), (b, _) = await new_user(http), await new_user(http)
            inbox = await legacy.user_queue(a["standard_id"])
            group = await ok(
                http.post(
                    f"{API}/conversations/group",
                    json={"name": "g", "member_ids": [b["id"]]},
                    headers=ha,
                )
            )
            await legacy.wait(inbox, 1)
            room = await legacy.conversation_queue(group["id"])
            sent: list[int] = []

            async def say(n: int) -> None:
                for i in range(n):
                    r = await http.post(
                        f"{API}/messages/text",
                        json={"conversation_id": group["id"], "content": f"m{len(sent)}-{i}"},
                        headers=ha,
                    )
                    assert r.status_code == 201, r.text
                    sent.append(r.json()["id"])

            await say(50)
            await drop_connections(prefix)  # the broker drops the cascade's connection
            await say(50)
            server.kill()  # SIGKILL: whatever was not confirmed is published again
        server.start()
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            await legacy.wait(room, len(sent), timeout=30)
            ids = [m["data"]["id"] for m in legacy.bodies(room)]
            assert set(ids) == set(sent)  # every message arrived
            first = list(dict.fromkeys(ids))
            assert first == sorted(first)  # in order (duplicates only around the crash)
            by_id: dict[str, bytes] = {}
            for m in legacy.got[room]:  # a duplicate is the very same message
                assert by_id.setdefault(m.message_id or "", m.body) == m.body
    finally:
        server.stop()
        await legacy.cleanup()


async def drop_connections(prefix: str) -> None:
    out = await rabbitmqctl("list_connections", "pid", "client_properties")
    ours = [line.split("\t")[0] for line in out.splitlines() if prefix in line]
    assert ours, "the cascade has no broker connection to drop"
    for pid in ours:
        await rabbitmqctl("close_connection", pid, "test: broker drops the cascade")
