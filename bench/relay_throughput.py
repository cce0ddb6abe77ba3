"""Relay throughput with publisher confirms, and end-to-end lag while events keep coming.

Usage: .venv/bin/python bench/relay_throughput.py [--events 20000] [--rate 1000] [--seconds 10]

Phase 1 (throughput): ``--events`` events are already in the store (50 aggregates); the relay
starts from zero and publishes them all to a durable topic exchange with a durable queue bound,
with confirms, persistent and mandatory, exactly as ``im relay`` does. Prints events/s.

Phase 2 (lag): events are appended at ``--rate`` per second for ``--seconds`` (the load of a chat
sending that many messages per second) while a consumer measures, per message, receive time
minus the event's recorded time. Prints p50/p99/max lag. The relay runs in the appending process,
as inside ``im serve``.

Uses RabbitMQ on 127.0.0.1:5672 (guest/guest) with a unique exchange and queue, deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aio_pika

from domain import users as u
from domain.store import NO_STREAM, new_event
from gateway.app import Process
from gateway.settings import load_settings

AMQP = "amqp://guest:guest@127.0.0.1:5672/"


async def append_round(svc: Process, versions: dict[int, int], streams: int, per: int) -> int:
    async def one(uid: int) -> None:
        v = versions.get(uid, NO_STREAM)
        evs = [
            new_event(u.UserRenamed(user_id=uid, name=f"n{v + 1 + i}", at=time.time()))
            for i in range(per)
        ]
        await svc.commands.events.append(u.user_stream(uid), evs, v)
        versions[uid] = v + per

    await asyncio.gather(*(one(uid) for uid in range(1, streams + 1)))
    return streams * per


async def main(args: argparse.Namespace) -> None:
    name = f"bench.relay.{uuid.uuid4().hex[:8]}"
    data = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    settings = load_settings(
        {},
        data_dir=str(data),
        jwt_secret="x" * 40,
        amqp_url=AMQP,
        amqp_exchange=name,
        amqp_partner_queue=name + ".partner",
    )
    conn = await aio_pika.connect(AMQP)
    ch = await conn.channel()
    exchange = await ch.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await ch.declare_queue(name + ".q", durable=True)
    await queue.bind(exchange, "#")
    svc = Process(settings, inline_projector=False, cascade=True)
    assert svc.cascade is not None
    try:
        versions: dict[int, int] = {}
        done = 0
        while done < args.events:
            done += await append_round(svc, versions, 50, 20)
        head = await svc.commands.events.head()
        relay = svc.cascade.relay
        started = time.perf_counter()
        cpu = time.process_time()
        await svc.cascade.start()
        while relay.position < head:  # noqa: ASYNC110 - polling keeps the relay code unchanged
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        print(f"throughput: {done:,} events in {elapsed:.2f}s = {done / elapsed:,.0f} events/s")
        print(
            f"  relay CPU: {cpu / done * 1e6:.0f} us/event (= {done / cpu:,.0f} events/s per core)"
        )
        print(f"  (confirmed, persistent, mandatory; failures={svc.cascade.runtime.failures})")
        await queue.purge()

        lags: list[float] = []

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            body = json.loads(message.body)
            lags.append(time.time() - body["data"]["at"])

        await queue.consume(on_message, no_ack=True)
        per_round = 10
        total = int(args.rate * args.seconds)
        sent = 0
        t0 = time.perf_counter()
        while sent < total:
            sent += await append_round(svc, versions, per_round, 1)
            ahead = t0 + sent / args.rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
        rate = sent / (time.perf_counter() - t0)
        deadline = time.monotonic() + 30
        while len(lags) < sent and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        lags.sort()
        q = statistics.quantiles(lags, n=100)
        print(
            f"lag at {rate:,.0f} events/s for {args.seconds:g}s ({len(lags):,} received):"
            f" p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms"
        )
    finally:
        await svc.stop()
        await queue.delete(if_unused=False, if_empty=False)
        await exchange.delete()
        for q_name in (name + ".partner", name + ".partner.dlq"):
            await ch.queue_delete(q_name)
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    try:
        import uvloop  # as ``im relay`` runs

        uvloop.run(main(parser.parse_args()))
    except ImportError:
        asyncio.run(main(parser.parse_args()))
