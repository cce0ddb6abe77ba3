"""``im relay`` against the real RabbitMQ: completeness, per-aggregate order, crashes, drops."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.cascade_harness import Cascade, assert_delivery


async def test_ten_thousand_events_all_arrive_in_aggregate_order(tmp_path: Path) -> None:
    async with Cascade(tmp_path) as c:
        c.partner_queue = c.dlq = ""  # the relay alone, without the partner queue
        c.start_relay()
        await c.produce(10_000)  # while the relay is already running: catch-up and live
        events = await c.stored()
        assert len(events) == 10_000
        await c.wait_for(lambda: len(c.ids) == len(events), what="10,000 messages")
        assert assert_delivery(c.got, events) == []  # no failure, so no duplicate either
        assert [g.message_id for g in c.got] == [e.id for e in events]  # one channel: all order
        await c.wait_checkpoint(events[-1].position)
        assert await c.terminate() == 0, c.log.read_text()[-2000:]
        assert await c.queues() == [c.exchange + ".all"]  # no partner queue was declared


async def test_sigkill_mid_stream_loses_nothing(tmp_path: Path) -> None:
    async with Cascade(tmp_path) as c:
        await c.produce(10_000)
        events = await c.stored()
        c.start_relay()
        await c.wait_for(lambda: len(c.got) >= 3_000, what="3,000 messages")
        c.kill()
        # Everything up to the saved checkpoint was confirmed, so it is (or will be) delivered.
        saved = await c.checkpoint()
        await c.wait_for(
            lambda: all(e.position in c.positions for e in events if e.position <= saved),
            timeout=10,
            what=f"every event up to the checkpoint {saved}",
        )
        c.start_relay()
        await c.wait_for(lambda: len(c.ids) == len(events), what="the rest after a restart")
        duplicates = assert_delivery(c.got, events)
        # The restarted relay resumed from its checkpoint: only later events came twice.
        assert all(d.position > saved for d in duplicates)


async def test_broker_drops_the_connection_mid_stream(tmp_path: Path) -> None:
    async with Cascade(tmp_path) as c:
        c.start_relay()
        producing = asyncio.create_task(c.produce(10_000, rate=2_500))
        await c.wait_for(lambda: len(c.got) >= 1_500, what="1,500 messages")
        dropped = await c.drop_connections()
        # The relay reconnects by itself: a new connection, and events appended from then on
        # (which only it can publish) arrive without any restart.
        await c.wait_reconnected(dropped)
        await producing
        await c.produce(200)
        events = await c.stored()
        await c.wait_for(lambda: len(c.ids) == len(events), what="everything after reconnecting")
        assert c.proc is not None and c.proc.poll() is None  # the same relay process

        # Drop again mid-stream and kill the relay before it can republish anything: the
        # checkpoint it saved must not be past an event the broker did not confirm.
        producing = asyncio.create_task(c.produce(5_000, rate=2_500))
        await c.wait_for(lambda: len(c.ids) >= len(events) + 1_000, what="1,000 more")
        await c.drop_connections()
        c.kill()
        saved = await c.checkpoint()
        stored = await c.stored()
        await c.wait_for(
            lambda: all(e.position in c.positions for e in stored if e.position <= saved),
            timeout=10,
            what=f"every event up to the checkpoint {saved}",
        )
        await producing
        events = await c.stored()
        c.start_relay()
        await c.wait_for(lambda: len(c.ids) == len(events), what="all 15,200 messages")
        assert_delivery(c.got, events)
