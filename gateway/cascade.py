"""The cascade: the relay and the partner user queue wired from settings, and ``/mq-info``.

Partner messages on the queue carry the same body as ``POST /cascade/sync/users``. A message
that is not such a body is dead-lettered; one that is gets applied (bad entries are reported in
the result's ``errors``), answered on ``reply_to`` when the partner set one, and acked.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import msgspec

from commands.user_sync import MAX_USERS, SyncUsers, UserSync
from domain.cascade import CONTENT_TYPE, MAPPING, ROUTING_KEY_FORMAT, formatter
from domain.store import EventStore
from gateway.relay import ReadStoreCheckpoint, Relay, RelayStatus
from gateway.settings import Settings
from projections.store import ReadStore

if TYPE_CHECKING:
    from gateway.adapters.amqp import AmqpPartnerConsumer

log = logging.getLogger("im.cascade")
_DOCS = Path(__file__).resolve().parents[1] / "docs"


class PartnerOutcome(msgspec.Struct, frozen=True):
    """Ack (answering ``reply`` to reply_to, if any) or dead-letter, with the reason."""

    dead_letter: bool
    reply: bytes | None = None
    detail: str = ""


_sync_decoder = msgspec.json.Decoder(SyncUsers)
_encoder = msgspec.json.Encoder()


async def handle_partner_message(sync: UserSync, body: bytes) -> PartnerOutcome:
    """Apply one partner sync message; only after this returns may it be acked."""
    try:
        cmd = _sync_decoder.decode(body)
    except msgspec.MsgspecError as exc:
        return PartnerOutcome(dead_letter=True, detail=f"not a user sync message: {exc}")
    if len(cmd.users) > MAX_USERS:
        return PartnerOutcome(dead_letter=True, detail=f"more than {MAX_USERS} users")
    result, _ = await sync.sync(cmd)
    if result.errors:
        log.warning("partner sync: %d entries rejected: %s", len(result.errors), result.errors[:5])
    return PartnerOutcome(dead_letter=False, reply=_encoder.encode(result))


def relay_checkpoint_name(settings: Settings) -> str:
    return f"cascade-relay:{settings.amqp_exchange}"


class MessageFormat(msgspec.Struct):
    name: str
    version: int
    content_type: str
    json_schema: dict[str, Any] | None


class MqInfo(msgspec.Struct):
    enabled: bool
    host: str | None
    port: int | None
    vhost: str | None
    username: str | None
    password: str | None
    exchange: str
    exchange_type: str
    routing_key_format: str
    routing_keys: list[str]
    message_format: MessageFormat
    partner_queue: str
    dead_letter_queue: str


@functools.cache
def _schema(name: str) -> dict[str, Any] | None:
    path = _DOCS / f"cascade-{name}.schema.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


async def mq_info(settings: Settings) -> MqInfo:
    """What a partner needs to bind a queue. Credentials only from ``IM_AMQP_PUBLIC_URL``."""
    url = settings.amqp_public_url or settings.amqp_url
    host = port = vhost = username = password = None
    if url:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
        vhost = unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
        if settings.amqp_public_url:
            username = unquote(parts.username) if parts.username else None
            password = unquote(parts.password) if parts.password else None
    fmt = formatter(settings.cascade_format)
    schema = await asyncio.to_thread(_schema, fmt.name)
    return MqInfo(
        enabled=settings.amqp_url is not None,
        host=host,
        port=port,
        vhost=vhost,
        username=username,
        password=password,
        exchange=settings.amqp_exchange,
        exchange_type="topic",
        routing_key_format=ROUTING_KEY_FORMAT,
        routing_keys=["#", *MAPPING.routing_patterns()],
        message_format=MessageFormat(fmt.name, fmt.version, CONTENT_TYPE, schema),
        partner_queue=settings.amqp_partner_queue,
        dead_letter_queue=settings.dead_letter_queue,
    )


class Cascade:
    """The relay plus the partner consumer on one robust AMQP connection."""

    def __init__(
        self, settings: Settings, events: EventStore, read: ReadStore, sync: UserSync
    ) -> None:
        from gateway.adapters.amqp import AmqpBroker, AmqpPartnerConsumer, AmqpPublisher

        assert settings.amqp_url is not None
        self.broker = AmqpBroker(
            settings.amqp_url,
            name=f"im cascade {settings.amqp_exchange} pid {os.getpid()}",
            reconnect_seconds=settings.amqp_reconnect_seconds,
        )
        publisher = AmqpPublisher(
            self.broker,
            settings.amqp_exchange,
            confirm_timeout=settings.amqp_confirm_timeout_seconds,
        )
        self.checkpoint = ReadStoreCheckpoint(read, relay_checkpoint_name(settings))
        self.relay = Relay(
            events, self.checkpoint, publisher, MAPPING, formatter(settings.cascade_format)
        )
        self.consumer = (
            AmqpPartnerConsumer(
                self.broker,
                settings.amqp_partner_queue,
                settings.dead_letter_queue,
                functools.partial(handle_partner_message, sync),
            )
            if settings.amqp_partner_queue  # empty: no partner queue, only the relay
            else None
        )
        self._consumer_task: asyncio.Task[None] | None = None

    def status(self) -> RelayStatus:
        return self.relay.status()

    async def start(self) -> None:
        await self.relay.start()
        if self.consumer is not None:
            self._consumer_task = asyncio.create_task(
                self._start_consumer(self.consumer), name="partner-queue"
            )

    async def _start_consumer(self, consumer: AmqpPartnerConsumer) -> None:
        delay = 0.2
        while True:
            try:
                await consumer.start()
                return
            except Exception as exc:  # broker down or queue declared differently: keep trying
                log.warning("partner queue: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def stop(self) -> None:
        if self._consumer_task is not None:
            self._consumer_task.cancel()
            try:
                await self._consumer_task
            except (asyncio.CancelledError, Exception):
                pass
        if self.consumer is not None:
            await self.consumer.close()
        await self.relay.stop()
