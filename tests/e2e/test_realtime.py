"""Realtime over a real uvicorn process and real WebSocket clients: auth, frames, broadcast,
resume, presence, idle timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import websockets

from gateway.settings import load_settings
from queries.realtime.routing import MARK_READ_MAX_IDS
from tests.helpers import API, ServerProcess, new_user, token_for
from tests.ws import SKIP, Live, close_code, live, ws_url

ROOT, ROOT_PASSWORD = "rt_root", "root-secret-1"
SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    srv = ServerProcess(
        tmp_path_factory.mktemp("realtime"),
        IM_FIRST_SUPERUSER=ROOT,
        IM_FIRST_SUPERUSER_PASSWORD=ROOT_PASSWORD,
        IM_TYPING_TIMEOUT_SECONDS="0.5",
    ).start()
    yield srv
    srv.stop()


@pytest.fixture
async def http(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        yield c


@pytest.fixture
async def root(http: httpx.AsyncClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {await token_for(http, ROOT, ROOT_PASSWORD)}"}


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


async def person(http: httpx.AsyncClient) -> tuple[Any, str]:
    user, headers = await new_user(http)
    return user, bearer(headers)


async def broadcast(
    http: httpx.AsyncClient, root: dict[str, str], title: str, targets: list[int] | None
) -> Any:
    body: dict[str, Any] = {"title": title, "content": f"body of {title}", "priority": "high"}
    if targets is not None:
        body["target_user_ids"] = targets
    r = await http.post(f"{API}/realtime/broadcast", json=body, headers=root)
    assert r.status_code == 200, r.text
    return r.json()


async def test_bad_tokens_are_closed_with_4401_before_any_data(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    user, token = await person(http)
    now = int(time.time())
    expired = jwt.encode({"sub": str(user["id"]), "iat": now - 99, "exp": now - 9}, SECRET)
    unknown = jwt.encode({"sub": "987654321", "iat": now, "exp": now + 60}, SECRET)
    foreign = jwt.encode({"sub": str(user["id"]), "iat": now, "exp": now + 60}, "other" * 10)
    urls = [
        ws_url(server.url, None),
        ws_url(server.url, ""),
        ws_url(server.url, "garbage"),
        ws_url(server.url, expired),
        ws_url(server.url, unknown),
        ws_url(server.url, foreign),
        ws_url(server.url, token, path=f"/ws/{user['id'] + 1}"),
        ws_url(server.url, token, path=f"{API}/realtime/ws/{user['id'] + 1}"),
    ]
    for url in urls:
        code, frames = await close_code(url)
        assert (code, frames) == (4401, []), url


async def test_established_first_then_ping_pong(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    user, token = await person(http)
    paths = (
        f"{API}/realtime/ws",
        f"{API}/realtime/ws/{user['id']}",
        f"/ws/{user['id']}",
        f"/ws/{user['id']}/",
    )
    for path in paths:
        async with live(server.url, token, path=path) as ws:
            pong = await ws.ping()
            assert set(pong) == {"type", "data", "timestamp"}
            assert pong["timestamp"].endswith("Z")
            await ws.ws.send("not json")
            assert (await ws.next())["type"] == "error"
            assert (await ws.ping())["type"] == "pong"


async def test_established_frame_shape(server: ServerProcess, http: httpx.AsyncClient) -> None:
    user, token = await person(http)
    async with live(server.url, token) as ws:
        await ws.ping()
    async with websockets.connect(ws_url(server.url, token), ping_interval=None) as raw:
        first = json.loads(await raw.recv())
    assert first["type"] == "connection_established"
    assert "position" not in first
    assert first["data"]["user_id"] == user["id"]
    assert isinstance(first["data"]["position"], int)


async def test_bad_or_unknown_since_is_refused(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    _, token = await person(http)
    for bad in ("-1", "abc", "1.5"):
        code, frames = await close_code(ws_url(server.url, token, since=bad))
        assert (code, frames) == (4400, []), bad
    code, frames = await close_code(ws_url(server.url, token, since=10**15))
    assert (code, frames) == (4409, [])


async def test_broadcast_reaches_targets_or_everyone(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    (a, ta), (b, tb), (_, tc) = [await person(http) for _ in range(3)]
    async with (
        live(server.url, ta) as wa,
        live(server.url, tb) as wb,
        live(server.url, tc) as wc,
    ):
        sent = await broadcast(http, root, "targeted", [a["id"], b["id"], a["id"]])
        assert sent["recipients"] == 2
        for ws in (wa, wb):
            frame = await ws.expect("broadcast_received")
            assert frame["data"]["broadcast_id"] == sent["broadcast_id"]
            assert frame["data"]["title"] == "targeted"
            assert frame["data"]["content"] == "body of targeted"
            assert frame["data"]["priority"] == "high"
            assert isinstance(frame["position"], int)
        everyone = await broadcast(http, root, "all", None)
        assert everyone["recipients"] >= 4
        for ws in (wa, wb, wc):  # wc's first broadcast frame: it never got the targeted one
            frame = await ws.expect("broadcast_received")
            assert frame["data"]["broadcast_id"] == everyone["broadcast_id"]


async def test_broadcast_rules(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    user, headers = await new_user(http)
    body = {"title": "t", "content": "c", "priority": "normal"}
    r = await http.post(f"{API}/realtime/broadcast", json=body, headers=headers)
    assert r.status_code == 403
    r = await http.post(f"{API}/realtime/broadcast", json=body)
    assert r.status_code == 401
    unknown = {**body, "target_user_ids": [user["id"], 987654321]}
    r = await http.post(f"{API}/realtime/broadcast", json=unknown, headers=root)
    assert r.status_code == 400 and "987654321" in r.json()["detail"]
    for bad in ({**body, "target_user_ids": []}, {**body, "priority": "urgent"}, {"title": ""}):
        r = await http.post(f"{API}/realtime/broadcast", json=bad, headers=root)
        assert r.status_code == 422, bad
    r = await http.get(f"{API}/realtime/connection-stats", headers=headers)
    assert r.status_code == 403


async def test_every_device_of_a_user_receives(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    user, token = await person(http)
    async with live(server.url, token) as one, live(server.url, token) as two:
        sent = await broadcast(http, root, "devices", [user["id"]])
        for ws in (one, two):
            frame = await ws.expect("broadcast_received")
            assert frame["data"]["broadcast_id"] == sent["broadcast_id"]


async def test_resume_replays_missed_events_once_in_order_then_live(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    (user, token), (other, _) = await person(http), await person(http)
    async with live(server.url, token) as ws:
        first = await broadcast(http, root, "before", [user["id"]])
        seen = (await ws.expect("broadcast_received"))["position"]
        assert first["broadcast_id"]
    missed = []
    for i in range(100):
        missed.append((await broadcast(http, root, f"missed {i}", [user["id"]]))["broadcast_id"])
        if i % 10 == 0:
            await broadcast(http, root, f"not for them {i}", [other["id"]])
    async with live(server.url, token, since=seen) as ws:
        got = [await ws.expect("broadcast_received") for _ in range(100)]
        assert [f["data"]["broadcast_id"] for f in got] == missed
        positions = [f["position"] for f in got]
        assert positions == sorted(set(positions)) and positions[0] > seen
        after = await broadcast(http, root, "live", [user["id"]])
        frame = await ws.expect("broadcast_received")
        assert frame["data"]["broadcast_id"] == after["broadcast_id"]
        end = await broadcast(http, root, "marker", [user["id"]])  # nothing repeated before it
        await ws.marker(
            "broadcast_received", lambda f: f["data"]["broadcast_id"] == end["broadcast_id"]
        )


async def test_resume_while_events_keep_coming_has_no_gap_or_duplicate(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    user, token = await person(http)
    async with live(server.url, token) as ws:
        await broadcast(http, root, "start", [user["id"]])
        seen = (await ws.expect("broadcast_received"))["position"]
    ids = [
        (await broadcast(http, root, f"gap {i}", [user["id"]]))["broadcast_id"] for i in range(30)
    ]

    async def keep_sending() -> list[int]:
        return [
            (await broadcast(http, root, f"seam {i}", [user["id"]]))["broadcast_id"]
            for i in range(30)
        ]

    sender = asyncio.create_task(keep_sending())
    async with live(server.url, token, since=seen) as ws:
        more = await sender
        got = [await ws.expect("broadcast_received") for _ in range(60)]
        assert [f["data"]["broadcast_id"] for f in got] == ids + more
        end = await broadcast(http, root, "marker", [user["id"]])  # nothing repeated before it
        await ws.marker(
            "broadcast_received", lambda f: f["data"]["broadcast_id"] == end["broadcast_id"]
        )


async def test_presence_with_two_devices(server: ServerProcess, http: httpx.AsyncClient) -> None:
    (user, token), (_, watcher_headers) = await person(http), await new_user(http)
    uid = user["id"]

    async def status() -> tuple[bool, Any, bool, bool]:
        r = await http.get(f"{API}/realtime/user-status/{uid}", headers=watcher_headers)
        body = r.json()
        online = (await http.get(f"{API}/realtime/online-users", headers=watcher_headers)).json()
        statuses = await http.post(
            f"{API}/users/statuses", json={"user_ids": [uid]}, headers=watcher_headers
        )
        assert online["count"] == len(online["online_users"])
        return (
            body["is_online"],
            body["last_seen"],
            uid in online["online_users"],
            (statuses.json()["statuses"][str(uid)]),
        )

    assert (await status())[0] is False
    async with live(server.url, token) as one:
        async with live(server.url, token) as two:
            await two.ping()
            online, last_seen, listed, flag = await status()
            assert online and listed and flag and last_seen.endswith("Z")
        await one.ping()  # the server has handled the second device's close by now
        assert (await status())[0] is True
    deadline = time.monotonic() + 5
    while (await status())[0]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    online, last_seen, listed, flag = await status()
    assert (online, listed, flag) == (False, False, False) and last_seen is not None
    r = await http.get(f"{API}/realtime/user-status/987654321", headers=watcher_headers)
    assert r.status_code == 404


async def test_connection_stats(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    _, token = await person(http)
    async with live(server.url, token) as ws:
        await ws.ping()
        r = await http.get(f"{API}/realtime/connection-stats", headers=root)
        stats = r.json()
        assert stats["total_connections"] >= 1 and stats["online_users"] >= 1
        assert stats["pusher_position"] >= 1


async def test_idle_sockets_are_closed_after_the_configured_silence(tmp_path: Path) -> None:
    assert load_settings({}).ws_idle_seconds > 75  # the default leaves clients 75 s
    srv = ServerProcess(tmp_path, IM_WS_IDLE_SECONDS="0.6").start()
    try:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            _, token = await person(http)
            async with live(srv.url, token) as chatty:
                for _ in range(6):  # 1.2 s in total, pinging every 0.2 s: kept open
                    await asyncio.sleep(0.2)
                    await chatty.ping()
            started = time.monotonic()
            code, frames = await close_code(ws_url(srv.url, token))
            assert code == 4408 and time.monotonic() - started >= 0.55
            assert [f for f in frames if "connection_established" in f]
    finally:
        srv.stop()


async def test_too_old_since_asks_for_a_rest_resync(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path, IM_WS_RESUME_MAX_EVENTS="3").start()
    try:
        async with httpx.AsyncClient(base_url=srv.url) as http:
            for _ in range(3):
                _, token = await person(http)
            code, frames = await close_code(ws_url(srv.url, token, since=0))
            assert (code, frames) == (4409, [])
            async with live(srv.url, token) as ws:
                await ws.ping()
    finally:
        srv.stop()


# -- chat events ---------------------------------------------------------------------------


async def group(http: httpx.AsyncClient, owner: dict[str, str], members: list[int]) -> Any:
    body = {"name": "g", "member_ids": members}
    r = await http.post(f"{API}/conversations/group", json=body, headers=owner)
    assert r.status_code == 201, r.text
    return r.json()


async def say(http: httpx.AsyncClient, who: dict[str, str], cid: int, text: str) -> Any:
    body = {"conversation_id": cid, "content": text}
    r = await http.post(f"{API}/messages/text", json=body, headers=who)
    assert r.status_code == 201, r.text
    return r.json()


async def test_new_message_frame_is_the_message_view_with_aliases(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (_a, ha), (b, hb) = await new_user(http), await new_user(http)
    conv = await group(http, ha, [b["id"]])
    async with live(server.url, bearer(hb)) as wb, live(server.url, bearer(ha)) as wa:
        message = await say(http, ha, conv["id"], "hello")
        for ws in (wb, wa):
            frame = await ws.expect("new_message")
            data = frame["data"]
            assert data["message_id"] == data["id"] == message["id"]
            assert data["timestamp"] == data["created_at"] == message["created_at"]
            assert {k: data[k] for k in message} == message
            assert isinstance(frame["position"], int)


async def test_resume_after_100_messages_then_live(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (_a, ha), (b, hb) = await new_user(http), await new_user(http)
    conv = await group(http, ha, [b["id"]])
    async with live(server.url, bearer(hb)) as wb:
        await say(http, ha, conv["id"], "before")
        seen = (await wb.expect("new_message"))["position"]
    sent = [(await say(http, ha, conv["id"], f"m{i}"))["id"] for i in range(100)]
    async with live(server.url, bearer(hb), since=seen) as wb:
        got = [await wb.expect("new_message") for _ in range(100)]
        assert [f["data"]["id"] for f in got] == sent
        seqs = [f["data"]["seq"] for f in got]
        assert seqs == list(range(seqs[0], seqs[0] + 100))
        fresh = await say(http, ha, conv["id"], "live")
        assert (await wb.expect("new_message"))["data"]["id"] == fresh["id"]
        end = await say(http, ha, conv["id"], "marker")  # nothing repeated before it
        await wb.marker("new_message", lambda f: f["data"]["id"] == end["id"])


async def frames_until(ws: Live, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Every frame up to and including the first one ``done`` accepts."""
    out = [await ws.next()]
    while not done(out[-1]):
        out.append(await ws.next())
    return out


def is_message(message_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda f: f["type"] == "new_message" and f["data"]["id"] == message_id


async def test_removed_members_stop_and_added_members_start_at_once(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    (a, ha), (b, hb), (c, hc), (d, hd) = [await new_user(http) for _ in range(4)]
    conv = await group(http, ha, [b["id"], c["id"]])
    cid = conv["id"]
    async with (
        live(server.url, bearer(hb)) as wb,
        live(server.url, bearer(hc)) as wc,
        live(server.url, bearer(hd)) as wd,
    ):
        r = await http.delete(f"{API}/conversations/{cid}/members/{c['id']}", headers=ha)
        assert r.status_code == 200, r.text
        removed = await wc.expect("member_removed")
        assert removed["data"] == {
            "conversation_id": cid,
            "removed_user_id": c["id"],
            "operator_id": a["id"],
            "is_self_exit": False,
        }
        r = await http.post(
            f"{API}/conversations/{cid}/members", json={"user_ids": [d["id"]]}, headers=ha
        )
        assert r.status_code == 200, r.text
        added = await wd.expect("member_added")
        assert added["data"] == {
            "conversation_id": cid,
            "added_user_ids": [d["id"]],
            "operator_id": a["id"],
        }
        message = await say(http, ha, cid, "after the changes")
        seen_by_b = await frames_until(wb, is_message(message["id"]))
        kinds = [f["type"] for f in seen_by_b if f["type"] not in SKIP]
        assert "member_removed" in kinds and "member_added" in kinds
        await frames_until(wd, is_message(message["id"]))
        # c's next frame is one written after the message for c alone: the message never came
        end = await broadcast(http, root, "marker", [c["id"]])
        await wc.marker(
            "broadcast_received", lambda f: f["data"]["broadcast_id"] == end["broadcast_id"]
        )


async def test_presence_changes_reach_those_who_share_a_conversation(
    server: ServerProcess, http: httpx.AsyncClient, root: dict[str, str]
) -> None:
    (a, ha), (b, hb), (x, hx) = [await new_user(http) for _ in range(3)]
    await group(http, hb, [a["id"]])
    async with live(server.url, bearer(hb)) as wb, live(server.url, bearer(hx)) as stranger:
        async with contextlib.AsyncExitStack() as first_device:
            one = await first_device.enter_async_context(live(server.url, bearer(ha)))
            online = await wb.expect("user_status_changed")
            assert online["data"] == {"user_id": a["id"], "is_online": True}
            assert "position" not in online
            async with live(server.url, bearer(ha)) as two:
                await two.ping()
            await one.ping()
            # neither the second device coming nor going shows before this marker
            end = await broadcast(http, root, "marker", [b["id"]])
            frame = await wb.expect("broadcast_received", skip=("notification_created",))
            assert frame["data"]["broadcast_id"] == end["broadcast_id"]
        offline = await wb.expect("user_status_changed")
        assert offline["data"] == {"user_id": a["id"], "is_online": False}
        end = await broadcast(http, root, "marker", [x["id"]])  # a stranger hears nothing else
        frame = await stranger.expect("broadcast_received", skip=("notification_created",))
        assert frame["data"]["broadcast_id"] == end["broadcast_id"]


async def test_typing_reaches_the_others_and_stops_by_itself(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (a, ha), (b, hb) = await new_user(http), await new_user(http)
    conv = await group(http, ha, [b["id"]])
    async with live(server.url, bearer(hb)) as wb, live(server.url, bearer(ha)) as wa:
        body = {"conversation_id": conv["id"], "is_typing": True}
        r = await http.post(f"{API}/messages/typing", json=body, headers=ha)
        assert r.status_code == 204
        started = time.monotonic()
        on = await wb.expect("typing", skip=("user_status_changed",))
        assert on["data"] == {"conversation_id": conv["id"], "user_id": a["id"], "is_typing": True}
        off = await wb.expect("typing", skip=("user_status_changed",))
        assert off["data"]["is_typing"] is False and time.monotonic() - started >= 0.4
        end = await say(http, hb, conv["id"], "marker")  # the typer heard none of its typing
        frame = await wa.expect("new_message", skip=("user_status_changed", "notification_created"))
        assert frame["data"]["id"] == end["id"]


async def test_sending_ends_the_senders_typing_at_once(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (a, ha), (b, hb) = await new_user(http), await new_user(http)
    conv = await group(http, ha, [b["id"]])
    skip = ("user_status_changed", "notification_created")
    async with live(server.url, bearer(hb)) as wb:
        body = {"conversation_id": conv["id"], "is_typing": True}
        r = await http.post(f"{API}/messages/typing", json=body, headers=ha)
        assert r.status_code == 204
        on = await wb.expect("typing", skip=skip)
        assert on["data"]["is_typing"] is True
        message = await say(http, ha, conv["id"], "done typing")
        after = await say(http, ha, conv["id"], "and one more")
        # The stop comes with the message itself, before anything written after it: not from
        # the 0.5 s timeout, which would put it after the second message.
        frames = [await wb.expect("new_message", skip=skip)]
        frames.append(await wb.expect("typing", skip=skip))
        frames.append(await wb.expect("new_message", skip=skip))
        assert frames[0]["data"]["id"] == message["id"]
        assert frames[1]["data"] == {
            "conversation_id": conv["id"],
            "user_id": a["id"],
            "is_typing": False,
        }
        assert frames[2]["data"]["id"] == after["id"]
        await asyncio.sleep(0.6)  # past the typing timeout: the stop is not sent a second time
        end = await say(http, ha, conv["id"], "marker")
        frame = await wb.expect("new_message", skip=skip)
        assert frame["data"]["id"] == end["id"]


async def test_mark_read_reaches_the_others_and_the_readers_devices(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (_a, ha), (b, hb) = await new_user(http), await new_user(http)
    conv = await group(http, ha, [b["id"]])
    first = await say(http, ha, conv["id"], "read me")
    await say(http, hb, conv["id"], "my own")  # moves b's watermark, never in message_ids
    message = await say(http, ha, conv["id"], "and me")
    async with live(server.url, bearer(ha)) as wa, live(server.url, bearer(hb)) as wb:
        body = {"conversation_id": conv["id"]}
        r = await http.post(f"{API}/messages/mark-read", json=body, headers=hb)
        assert r.status_code == 204
        for ws in (wa, wb):
            frame = await ws.expect("mark_read")
            assert frame["data"] == {
                "conversation_id": conv["id"],
                "user_id": b["id"],
                "seq": message["seq"],
                "message_ids": [message["id"]],  # first was read by b's own send after it
            }
        assert first["id"] not in frame["data"]["message_ids"]
        r = await http.post(f"{API}/messages/mark-read", json=body, headers=hb)
        assert r.status_code == 204
        end = await say(http, hb, conv["id"], "marker")  # nothing newly read: no frame before it
        await wa.marker("new_message", lambda f: f["data"]["id"] == end["id"])


async def test_mark_read_ids_are_capped_at_the_newest(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (_a, ha), (b, hb) = await new_user(http), await new_user(http)
    conv = await group(http, ha, [b["id"]])
    sent = [await say(http, ha, conv["id"], f"m{i}") for i in range(MARK_READ_MAX_IDS + 3)]
    async with live(server.url, bearer(ha)) as wa:
        body = {"conversation_id": conv["id"], "message_ids": [m["id"] for m in sent]}
        r = await http.post(f"{API}/messages/mark-read", json=body, headers=hb)
        assert r.status_code == 204
        frame = await wa.expect("mark_read")
        newest = sorted((m["id"] for m in sent[-MARK_READ_MAX_IDS:]), reverse=True)
        assert frame["data"]["message_ids"] == newest


async def test_conversation_frames_carry_each_viewers_view(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (a, ha), (b, hb) = await new_user(http), await new_user(http)
    async with live(server.url, bearer(ha)) as wa, live(server.url, bearer(hb)) as wb:
        conv = await group(http, ha, [b["id"]])
        for ws, headers in ((wa, ha), (wb, hb)):
            frame = await ws.expect("conversation_created")
            r = await http.get(f"{API}/conversations/{conv['id']}", headers=headers)
            assert frame["data"]["id"] == conv["id"]
            assert frame["data"]["participants"] == r.json()["participants"]
            # what the previous system's web client toasts and reads
            assert frame["data"]["creator_name"] == a["name"]
            assert frame["data"]["conversation_name"] == "g"
            assert frame["data"]["conversation_id"] == conv["id"]
            assert frame["data"]["conversation_type"] == "group"
            assert sorted(frame["data"]["participant_ids"]) == sorted([a["id"], b["id"]])
        body = {"name": "renamed"}
        r = await http.put(f"{API}/conversations/{conv['id']}", json=body, headers=ha)
        assert r.status_code == 200, r.text
        for ws in (wa, wb):
            frame = await ws.expect("conversation_updated", skip=(*SKIP, "new_message"))
            assert frame["data"]["name"] == "renamed"


async def test_resume_follows_membership_as_it_was_at_each_event(
    server: ServerProcess, http: httpx.AsyncClient
) -> None:
    (_a, ha), (b, hb) = await new_user(http), await new_user(http)
    cid = (await group(http, ha, [b["id"]]))["id"]
    async with live(server.url, bearer(hb)) as wb:
        await say(http, ha, cid, "seen")
        seen = (await wb.expect("new_message"))["position"]
    before = await say(http, ha, cid, "while still a member")
    r = await http.delete(f"{API}/conversations/{cid}/members/{b['id']}", headers=ha)
    assert r.status_code == 200
    hidden = await say(http, ha, cid, "while removed")
    r = await http.post(
        f"{API}/conversations/{cid}/members", json={"user_ids": [b["id"]]}, headers=ha
    )
    assert r.status_code == 200
    after = await say(http, ha, cid, "after rejoining")
    async with live(server.url, bearer(hb), since=seen) as wb:
        frames = await frames_until(wb, is_message(after["id"]))
        kinds = [f["type"] for f in frames]
        ids = [f["data"]["id"] for f in frames if f["type"] == "new_message"]
        assert ids[0] == before["id"] and hidden["id"] not in ids
        assert kinds.index("member_removed") < kinds.index("member_added")
        positions = [f["position"] for f in frames]
        assert positions == sorted(positions)
        end = await say(http, ha, cid, "marker")  # nothing repeated before it
        await wb.marker("new_message", lambda f: f["data"]["id"] == end["id"])
