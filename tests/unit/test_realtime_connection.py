"""A connection's outgoing queue: bounded, ordered, replay seam without gaps or duplicates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.protocol import State

from domain.signals import Typing
from gateway.realtime.connection import CLOSE_SLOW, Connection, Limits
from gateway.realtime.fastpath import direct_writer, wire_bytes
from gateway.realtime.hub import Hub
from gateway.realtime.typing import TypingRelay
from queries.realtime.frames import Frame, make_frame
from tests.helpers import wait_until


class FakeSocket:
    def __init__(self, stuck: bool = False) -> None:
        self.sent: list[str] = []
        self.closed: tuple[int, str] | None = None
        self.stuck = asyncio.Event() if stuck else None

    async def send_text(self, text: str) -> None:
        if self.stuck is not None:
            await self.stuck.wait()  # a peer that never reads: the transport stays paused
        self.sent.append(text)

    async def close(self, code: int, reason: str = "") -> None:
        if self.stuck is not None:
            await self.stuck.wait()
        self.closed = (code, reason)


def frame(position: int | None) -> Frame:
    return make_frame("x", {"p": position}, 0.0, position)


def conn(sock: FakeSocket, frames: int = 10, size: int = 1 << 20) -> tuple[Connection, list[int]]:
    aborted: list[int] = []
    c = Connection(sock, 7, Limits(frames=frames, bytes=size), lambda: aborted.append(1))  # type: ignore[arg-type]
    return c, aborted


async def test_frames_go_out_in_order() -> None:
    sock = FakeSocket()
    c, _ = conn(sock)
    c.start()
    for p in range(1, 6):
        c.push(frame(p))
    c.push_first(make_frame("connection_established", {}))
    await wait_until(_done(sock, 6))
    assert '"connection_established"' in sock.sent[0]  # pushed first, sent first
    assert [json.loads(t)["data"]["p"] for t in sock.sent[1:]] == [1, 2, 3, 4, 5]
    await c.drain_and_stop()


def _done(sock: FakeSocket, n: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(sock.sent) >= n

    return check


async def test_a_stuck_peer_overflows_is_closed_and_aborted_with_bounded_memory() -> None:
    sock = FakeSocket(stuck=True)
    c, aborted = conn(sock, frames=10)
    c.start()
    for p in range(1, 10_001):
        c.push(frame(p))
        assert c.queued <= 10
    assert c.closing and c.close_code == CLOSE_SLOW and c.queued == 0

    async def was_aborted() -> bool:
        return bool(aborted)

    await wait_until(was_aborted, timeout=3)
    await c.drain_and_stop()


async def test_byte_bound() -> None:
    sock = FakeSocket(stuck=True)
    c, _ = conn(sock, frames=1000, size=2000)
    c.start()
    c.push(make_frame("x", "y" * 1500, 0.0, 1))
    c.push(make_frame("x", "y" * 1500, 0.0, 2))
    await asyncio.sleep(0)
    assert c.close_code == CLOSE_SLOW
    await c.drain_and_stop()


async def test_replay_seam_drops_duplicates_and_keeps_live_order() -> None:
    sock = FakeSocket()
    c, _ = conn(sock, frames=100)
    c.replaying = True
    c.seam = 3
    c.start()
    c.push(frame(2))  # older than the resume point: already seen by the client
    c.push(frame(6))  # live, arrives while replaying: waits behind the replay
    c.push(frame(None))  # ephemeral
    for p in (4, 5):
        await c.push_replay(frame(p))
    c.end_replay(5)
    c.push(frame(5))  # a duplicate of a replayed one
    c.push(frame(7))
    await wait_until(_done(sock, 5))
    await asyncio.sleep(0.01)
    positions = [
        s.split('"position":')[1].rstrip("}") if '"position"' in s else None for s in sock.sent
    ]
    assert positions == ["4", "5", "6", None, "7"]
    await c.drain_and_stop()


async def test_a_retried_batch_is_not_delivered_twice() -> None:
    sock = FakeSocket()
    c, _ = conn(sock, frames=100)
    c.start()
    for p in (1, 2, 2, 1, 3, None):
        c.push(frame(p))
    await wait_until(_done(sock, 4))
    await asyncio.sleep(0.01)
    assert len(sock.sent) == 4 and '"position":3' in sock.sent[2]
    await c.drain_and_stop()


async def test_typing_is_relayed_and_stops_by_itself() -> None:
    hub = Hub()
    socks = {uid: FakeSocket() for uid in (1, 2, 3)}
    for uid, sock in socks.items():
        c = Connection(sock, uid, Limits(), None)  # type: ignore[arg-type]
        hub.add(c)
        c.start()
    relay = TypingRelay(hub, timeout=0.2)
    relay.on_signal(Typing(conversation_id=9, user_id=1, is_typing=True, recipients=(1, 2)))
    await wait_until(_done(socks[2], 1))
    assert '"is_typing":true' in socks[2].sent[0] and socks[1].sent == [] and socks[3].sent == []
    relay.on_signal(Typing(conversation_id=9, user_id=1, is_typing=True, recipients=(2,)))
    await wait_until(_done(socks[2], 3), timeout=2)
    assert '"is_typing":false' in socks[2].sent[2] and relay.active == 0
    for c in hub.connections():
        await c.drain_and_stop()


class FakeTransport:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.data.append(data)

    def is_closing(self) -> bool:
        return self.closing


class FakeProtocol:
    """The attributes of uvicorn's sans-I/O protocol the fast path relies on."""

    def __init__(self) -> None:
        self.conn = type("Conn", (), {"extensions": [], "state": State.OPEN})()
        self.transport = FakeTransport()
        self.writable = asyncio.Event()
        self.writable.set()
        self.close_sent = False

    async def receive(self) -> dict[str, Any]:
        return {}


async def test_fast_path_writes_serialized_frames_only_when_the_socket_takes_them() -> None:
    proto = FakeProtocol()
    write = direct_writer(proto.receive)
    assert write is not None and direct_writer(object()) is None
    f = make_frame("x", {"a": 1}, 0.0, 9)
    assert write(f)
    assert proto.transport.data[0] == b"\x81" + bytes([len(f.text)]) + f.text.encode()
    assert wire_bytes(f) is wire_bytes(f)  # serialized once for many connections
    proto.writable.clear()  # flow control paused the transport
    assert not write(f)
    proto.writable.set()
    proto.conn.extensions = ["permessage-deflate"]
    assert not write(f)


async def test_connection_uses_the_fast_path_only_with_nothing_queued() -> None:
    sock = FakeSocket()
    direct: list[Frame] = []
    accept = [True]

    def write(frame: Frame) -> bool:
        if accept[0]:
            direct.append(frame)
        return accept[0]

    c = Connection(sock, 7, Limits(), None, write)  # type: ignore[arg-type]
    c.push_first(make_frame("connection_established", {}))
    c.start()
    c.push(frame(1))  # the greeting is still queued: this one waits behind it
    await wait_until(_done(sock, 2))
    c.push(frame(2))
    assert [f.position for f in direct] == [2] and c.queued == 0
    accept[0] = False  # paused: falls back to the queue, in order
    c.push(frame(3))
    accept[0] = True
    c.push(frame(4))
    await wait_until(_done(sock, 4))
    assert [f.position for f in direct] == [2] and '"position":4' in sock.sent[3]
    await c.drain_and_stop()
