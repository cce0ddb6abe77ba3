"""The partner queue's AMQP consumer (aio-pika), on the cascade's shared robust connection.

How to answer a partner message is decided in ``commands.partner_queue.sync``; this module only
moves bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractIncomingMessage,
    AbstractRobustChannel,
    AbstractRobustConnection,
    ExchangeType,
)

from commands.partner_queue.sync import PartnerOutcome

log = logging.getLogger("im.amqp")
_CLOSE_TIMEOUT_S = 5.0


class Broker(Protocol):
    """The shared robust connection (``projections.cascade.amqp.AmqpBroker``)."""

    async def connection(self) -> AbstractRobustConnection: ...


async def _quietly(closing: Awaitable[Any]) -> None:
    """Closing never blocks shutdown: a broker that is gone gets a few seconds, then is left."""
    try:
        await asyncio.wait_for(closing, _CLOSE_TIMEOUT_S)
    except (TimeoutError, aiormq.exceptions.AMQPError, ConnectionError, RuntimeError) as exc:
        log.warning("closing the AMQP connection: %s", exc or type(exc).__name__)


PartnerHandler = Callable[[bytes], Awaitable[PartnerOutcome]]


class AmqpPartnerConsumer:
    """Consumes a durable partner queue one message at a time, in order.

    The queue dead-letters into ``dead_letter_queue`` (through the default exchange). A message
    is acked only after its handler returned (its events are appended); a handler failure is
    retried with backoff, ``attempts`` times in all, and then dead-lettered, so no message can
    block the queue.
    """

    def __init__(
        self,
        broker: Broker,
        queue: str,
        dead_letter_queue: str,
        handler: PartnerHandler,
        *,
        attempts: int = 5,
        prefetch: int = 16,
        bind: tuple[str, str] | None = None,
        reason_header: bool = False,
    ) -> None:
        """``bind``: (topic exchange, routing key) to declare and bind the queue to.
        ``reason_header``: dead-letter by publishing a copy to the dead-letter queue with the
        reason in its ``x-im-dead-letter-reason`` header (confirmed, then the original is
        acked) instead of rejecting it (whose ``x-death`` says only "rejected")."""
        self._broker = broker
        self._bind = bind
        self._reason_header = reason_header
        self._queue = queue
        self._dlq = dead_letter_queue
        self._handler = handler
        self._attempts = attempts
        self._prefetch = prefetch
        self._channel: AbstractRobustChannel | None = None
        self._order = asyncio.Lock()
        self.processed = 0
        self.dead_lettered = 0

    async def start(self) -> None:
        conn = await self._broker.connection()
        channel = await conn.channel()
        assert isinstance(channel, AbstractRobustChannel)
        await channel.set_qos(prefetch_count=self._prefetch)
        await channel.declare_queue(self._dlq, durable=True)
        queue = await channel.declare_queue(
            self._queue,
            durable=True,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": self._dlq},
        )
        if self._bind is not None:
            exchange, routing_key = self._bind
            declared = await channel.declare_exchange(exchange, ExchangeType.TOPIC, durable=True)
            await queue.bind(declared, routing_key)
        self._channel = channel  # before consuming: the first message may want to reply
        await queue.consume(self._on_message)

    async def close(self) -> None:
        if self._channel is not None and not self._channel.is_closed:
            await _quietly(self._channel.close())
        self._channel = None

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        async with self._order:
            outcome = await self._handle(message.body)
            if outcome.dead_letter:
                log.warning(
                    "partner message %s dead-lettered: %s", message.message_id, outcome.detail
                )
                if self._reason_header and self._channel is not None:
                    await self._dead_letter_with_reason(message, outcome.detail)
                else:
                    await message.reject(requeue=False)
                self.dead_lettered += 1
                return
            if message.reply_to and outcome.reply is not None and self._channel is not None:
                reply = aio_pika.Message(
                    outcome.reply,
                    content_type="application/json",
                    correlation_id=message.correlation_id or message.message_id,
                )
                await self._channel.default_exchange.publish(reply, routing_key=message.reply_to)
            await message.ack()
            self.processed += 1

    async def _dead_letter_with_reason(self, message: AbstractIncomingMessage, reason: str) -> None:
        assert self._channel is not None
        headers = dict(message.headers or {})
        headers["x-im-dead-letter-reason"] = reason[:1000]
        headers["x-im-original-queue"] = self._queue
        copy = aio_pika.Message(
            message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            correlation_id=message.correlation_id,
            timestamp=message.timestamp,
            type=message.type,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        # confirmed before the ack: a crash in between leaves a duplicate, never a loss
        await self._channel.default_exchange.publish(copy, routing_key=self._dlq)
        await message.ack()

    async def _handle(self, body: bytes) -> PartnerOutcome:
        delay = 0.1
        for attempt in range(1, self._attempts + 1):
            try:
                return await self._handler(body)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if attempt == self._attempts:
                    log.exception("partner message failed %d times", attempt)
                    return PartnerOutcome(dead_letter=True, reply=None, detail=str(exc))
                log.warning("partner message failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay *= 3
        raise AssertionError("unreachable")
