"""RabbitMQ through aio-pika: the shared robust connection and the relay's confirmed publisher.

One robust connection (``connect_robust``) serves the relay and the partner-queue consumer
(``commands.partner_queue.amqp``); aio-pika reopens it and its channels after a broker restart
or a dropped connection. What to publish is decided elsewhere (``domain.cascade``); this module
only moves bytes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractRobustChannel,
    AbstractRobustConnection,
    ExchangeType,
)
from aiormq.abc import ChannelFrame
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

from domain.cascade import OutgoingMessage

log = logging.getLogger("im.amqp")
_WARN_EVERY_S = 60.0
_CLOSE_TIMEOUT_S = 5.0


class AmqpBroker:
    """The shared robust connection, opened on first use (the first attempt may fail: retry)."""

    def __init__(self, url: str, *, name: str, reconnect_seconds: float) -> None:
        self._url = url
        self._name = name
        self._reconnect = reconnect_seconds
        self._conn: AbstractRobustConnection | None = None
        self._lock = asyncio.Lock()

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.is_closed and conn.connected.is_set()

    async def connection(self) -> AbstractRobustConnection:
        async with self._lock:
            if self._conn is None:
                self._conn = await aio_pika.connect_robust(
                    self._url,
                    reconnect_interval=self._reconnect,
                    client_properties={"connection_name": self._name},
                )
            return self._conn

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await _quietly(self._conn.close())
                self._conn = None


class AmqpPublisher:
    """Publishes to a durable topic exchange: confirms, persistent, mandatory. A message naming
    its own ``exchange`` goes there (one of ``also``, declared too as durable topic exchanges)."""

    def __init__(
        self,
        broker: AmqpBroker,
        exchange: str,
        *,
        confirm_timeout: float,
        also: Sequence[str] = (),
    ) -> None:
        self._broker = broker
        self._exchange = exchange
        self._also = tuple(also)
        self._timeout = confirm_timeout
        self._channel: AbstractRobustChannel | None = None
        self._raw: aiormq.Channel | None = None
        self._unroutable = 0
        self._warned = -_WARN_EVERY_S

    @property
    def connected(self) -> bool:
        return self._broker.connected and self._raw is not None and not self._raw.is_closed

    async def ready(self) -> None:
        if self._channel is None:
            conn = await self._broker.connection()
            channel = await conn.channel(publisher_confirms=True, on_return_raises=False)
            assert isinstance(channel, AbstractRobustChannel)
            for name in (self._exchange, *self._also):
                await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)
            self._channel = channel
        await self._channel.ready()
        raw = await self._channel.get_underlay_channel()
        assert isinstance(raw, aiormq.Channel)
        self._raw = raw

    def publish(self, messages: Sequence[OutgoingMessage]) -> asyncio.Future[int]:
        raw = self._raw
        if raw is None or raw.is_closed:
            raise ConnectionError("the relay's AMQP channel is not open")
        # Batches queue on the channel's FIFO lock in call order, so the broker receives every
        # message in the order given; the confirmations come back asynchronously.
        return asyncio.ensure_future(self._publish(raw, messages))

    async def _publish(self, raw: aiormq.Channel, messages: Sequence[OutgoingMessage]) -> int:
        confirmations = await _write_batch(raw, self._exchange, messages)
        results = await asyncio.wait_for(
            asyncio.gather(*confirmations, return_exceptions=True), self._timeout
        )
        returned = 0
        for result in results:
            if isinstance(result, BaseException):
                raise result
            if isinstance(result, aiormq.abc.DeliveredMessage):
                returned += 1
        if returned:
            self._unroutable += returned
            now = time.monotonic()
            if now - self._warned >= _WARN_EVERY_S:  # once a minute, not once a batch
                log.warning(
                    "relay: %d messages had no queue bound to their routing key", self._unroutable
                )
                self._warned, self._unroutable = now, 0
        return returned

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await _quietly(self._channel.close())
        self._channel = self._raw = None
        await self._broker.close()


async def _quietly(closing: Awaitable[Any]) -> None:
    """Closing never blocks shutdown: a broker that is gone gets a few seconds, then is left."""
    try:
        await asyncio.wait_for(closing, _CLOSE_TIMEOUT_S)
    except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
        log.warning("closing the AMQP connection: %s", exc or type(exc).__name__)


def _properties(m: OutgoingMessage) -> aiormq.spec.Basic.Properties:
    return aiormq.spec.Basic.Properties(
        content_type=m.content_type,
        delivery_mode=2,
        message_id=m.message_id,
        message_type=m.type,
        timestamp=dt.datetime.fromtimestamp(m.timestamp, dt.UTC),
        headers=dict(m.headers) if m.headers else None,
    )


async def _write_batch(
    channel: aiormq.Channel, exchange: str, messages: Sequence[OutgoingMessage]
) -> list[asyncio.Future[Any]]:
    """Publish a batch as one write; returns one confirmation future per message.

    This is aiormq's ``basic_publish`` (mandatory, with publisher confirms) for many messages at
    once: the same delivery tags, confirmation futures and returned-message bookkeeping, but one
    lock, one marshalled buffer and one socket write per batch instead of per message, which
    more than doubles what one core can publish.
    """
    futures: list[asyncio.Future[Any]] = []
    frames: list[Any] = []
    async with channel.lock:
        if channel.is_closed:
            raise aiormq.exceptions.ChannelInvalidStateError("the channel is closed")
        first = channel.delivery_tag + 1
        try:
            for m in messages:
                channel.delivery_tag += 1
                tag = channel.delivery_tag
                future = channel.create_future()
                channel.confirmations[tag] = future
                channel.message_id_delivery_tag[m.message_id] = tag
                future.add_done_callback(functools.partial(_forget, channel, m.message_id, tag))
                futures.append(future)
                frames.append(
                    aiormq.spec.Basic.Publish(
                        exchange=m.exchange or exchange, routing_key=m.routing_key, mandatory=True
                    )
                )
                frames.append(ContentHeader(properties=_properties(m), body_size=len(m.body)))
                frames.extend(_body_frames(m.body, channel.max_content_size))
            await channel.write_queue.put(
                ChannelFrame.marshall(channel_number=channel.number, frames=frames)
            )
        except BaseException:  # nothing reached the broker: undo the bookkeeping
            channel.delivery_tag = first - 1
            for i, future in enumerate(futures):
                channel.confirmations.pop(first + i, None)
                channel.message_id_delivery_tag.pop(messages[i].message_id, None)
                future.cancel()
            raise
    return futures


def _forget(channel: aiormq.Channel, message_id: str, tag: int, _: object) -> None:
    if channel.message_id_delivery_tag.get(message_id) == tag:
        channel.message_id_delivery_tag.pop(message_id)


def _body_frames(body: bytes, max_size: int) -> list[ContentBody]:
    if not body:
        return []
    return [ContentBody(body[i : i + max_size]) for i in range(0, len(body), max_size)]


class AmqpTopology:
    """Declares per-conversation fanout exchanges and binds them from the incoming exchange
    (the legacy protocol's ``exchange_c_{id}`` fed from ``conversation.incoming``)."""

    def __init__(self, broker: AmqpBroker) -> None:
        self._broker = broker
        self._channel: AbstractRobustChannel | None = None

    async def fanout_from(self, source: str, exchange: str, routing_key: str) -> None:
        """Declare durable fanout ``exchange`` and bind it from topic ``source`` on the key; both
        are idempotent, and both are confirmed before this returns."""
        channel = self._channel
        if channel is None or channel.is_closed:
            conn = await self._broker.connection()
            opened = await conn.channel(publisher_confirms=False)
            assert isinstance(opened, AbstractRobustChannel)
            channel = self._channel = opened
        await channel.ready()
        src = await channel.declare_exchange(source, ExchangeType.TOPIC, durable=True)
        dst = await channel.declare_exchange(exchange, ExchangeType.FANOUT, durable=True)
        await dst.bind(src, routing_key)

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await _quietly(self._channel.close())
        self._channel = None
