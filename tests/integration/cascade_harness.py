"""A real RabbitMQ, a real ``im relay`` process, an event-store writer and a counting consumer.

Every harness uses its own exchange and queues (unique names) and deletes them afterwards.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from commands.event_store.sqlite import SqliteEventStore
from domain import users as u
from domain.store import NO_STREAM, RecordedEvent, new_event
from projections.read_store.sqlite import SqliteReadStore
from tests.helpers import server_env, unique

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class Got:
    """One received message, parsed."""

    __slots__ = ("body", "message_id", "position", "stream", "stream_version")

    def __init__(self, message: AbstractIncomingMessage) -> None:
        body = json.loads(message.body)
        self.message_id = message.message_id
        self.stream: str = body["stream"]
        self.stream_version: int = body["stream_version"]
        self.position: int = body["position"]
        self.body = message.body
        assert body["id"] == message.message_id


class Cascade:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.exchange = unique("test.cascade.")
        self.partner_queue = self.exchange + ".partner"
        self.dlq = self.partner_queue + ".dlq"
        self.got: list[Got] = []
        self.ids: set[str] = set()
        self.positions: set[int] = set()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp_path / "relay.log"
        self.store = SqliteEventStore(self.data / "events.sqlite3")
        self._versions: dict[str, int] = {}

    async def __aenter__(self) -> Cascade:
        self.conn = await aio_pika.connect(AMQP_URL)
        self.channel = await self.conn.channel()
        exchange = await self.channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await self.channel.declare_queue(self.exchange + ".all", exclusive=True)
        await queue.bind(exchange, "#")
        await queue.consume(self._on_message, no_ack=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.kill()
        await self.store.close()
        await self.channel.exchange_delete(self.exchange)
        for name in (self.partner_queue, self.dlq):
            if name:
                await self.channel.queue_delete(name)
        await self.conn.close()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        got = Got(message)
        self.got.append(got)
        self.ids.add(got.message_id or "")
        self.positions.add(got.position)

    # -- the relay process ----------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return server_env(
            self.data,
            IM_AMQP_URL=AMQP_URL,
            IM_AMQP_EXCHANGE=self.exchange,
            IM_AMQP_PARTNER_QUEUE=self.partner_queue,
            IM_AMQP_RECONNECT_SECONDS="0.2",
        )

    def start_relay(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway.cli", "relay"],
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    async def terminate(self) -> int:
        """SIGTERM, as an orchestrator stops it; returns the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        while self.proc.poll() is None:
            assert time.monotonic() < deadline, "the relay did not stop on SIGTERM"
            await asyncio.sleep(0.05)
        code = self.proc.returncode
        self.proc = None
        return code

    async def checkpoint(self) -> int:
        """The relay's saved checkpoint, read the way a restarted relay reads it."""
        read = SqliteReadStore(self.data / "read.sqlite3")
        try:
            return await read.checkpoint(f"cascade-relay:{self.exchange}")
        finally:
            await read.close()

    async def wait_checkpoint(self, position: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while await self.checkpoint() < position:
            assert time.monotonic() < deadline, f"checkpoint never reached {position}"
            await asyncio.sleep(0.05)

    async def queues(self) -> list[str]:
        out = await _rabbitmqctl("list_queues", "name")
        return [line.strip() for line in out.splitlines() if self.exchange in line]

    async def connections(self) -> list[str]:
        """Broker-side ids of the relay's connections (found by their connection name)."""
        out = await _rabbitmqctl("list_connections", "pid", "client_properties")
        return [line.split("\t")[0] for line in out.splitlines() if self.exchange in line]

    async def wait_reconnected(self, dropped: list[str], timeout: float = 30.0) -> None:
        """Until the dropped connections are gone and the relay has a new one."""
        deadline = time.monotonic() + timeout
        while True:
            now = set(await self.connections())
            if now and now.isdisjoint(dropped):
                return
            assert time.monotonic() < deadline, f"no reconnection: {now} (dropped {dropped})"
            await asyncio.sleep(0.2)

    async def drop_connections(self) -> list[str]:
        pids = await self.connections()
        assert pids, "the relay has no broker connection to drop"
        for pid in pids:
            await _rabbitmqctl("close_connection", pid, "test: broker drops the relay")
        return pids

    # -- events ---------------------------------------------------------------------------------
    async def produce(
        self, total: int, streams: int = 50, per_append: int = 4, rate: float | None = None
    ) -> None:
        """Append ``total`` events round-robin over ``streams`` streams, optionally paced."""
        done = 0
        started = time.monotonic()
        while done < total:
            appends = []
            for s in range(1, streams + 1):
                n = min(per_append, total - done)
                if n <= 0:
                    break
                appends.append(self._append(s, n))
                done += n
            await asyncio.gather(*appends)
            if rate is not None:
                ahead = done / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)

    async def _append(self, user_id: int, n: int) -> None:
        stream = u.user_stream(user_id)
        version = self._versions.get(stream, NO_STREAM)
        events = [
            new_event(u.UserRenamed(user_id=user_id, name=f"v{version + 1 + i}", at=time.time()))
            for i in range(n)
        ]
        await self.store.append(stream, events, version)
        self._versions[stream] = version + n

    async def stored(self) -> list[RecordedEvent]:
        return await self.store.read_all(0, 10_000_000)

    async def wait_for(self, predicate: Any, timeout: float = 60.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"relay exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {len(self.got)}")
            await asyncio.sleep(0.02)


async def _rabbitmqctl(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-q",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def assert_delivery(got: list[Got], events: list[RecordedEvent]) -> list[Got]:
    """Every event arrived; duplicates are the same message; per stream, first arrivals follow
    the stream's order. Returns the duplicates."""
    first: dict[str, Got] = {}
    duplicates: list[Got] = []
    for g in got:
        seen = first.get(g.message_id or "")
        if seen is not None:
            assert seen.body == g.body, "a duplicate must be the very same message"
            duplicates.append(g)
            continue
        first[g.message_id or ""] = g
    assert set(first) == {e.id for e in events}, "some events never arrived"
    last: dict[str, int] = {}
    for g in first.values():
        assert g.stream_version == last.get(g.stream, -1) + 1, f"out of order in {g.stream}"
        last[g.stream] = g.stream_version
    return duplicates
