"""``/cascade``: broker information and partner user sync (partner credential or superuser)."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import msgspec
from msgspec import Meta

from commands.user_sync import MAX_USERS, SyncResult, SyncUser, SyncUsers, UserSync
from domain.cascade import CONTENT_TYPE, MAPPING, ROUTING_KEY_FORMAT, formatter
from gateway.http import Api, Ctx
from gateway.settings import Settings

_DOCS = Path(__file__).resolve().parents[2] / "docs"


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
    fmt = formatter(settings.envelope_format_name)
    schema = await asyncio.to_thread(_schema, fmt.name)
    return MqInfo(
        enabled=settings.amqp_url is not None and settings.envelope_cascade,
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


api = Api("/api/v1/cascade", tag="cascade")


class SyncUsersBody(msgspec.Struct):
    users: Annotated[list[SyncUser], Meta(max_length=MAX_USERS)]


@api.get("/mq-info", response=MqInfo, auth="partner")
async def get_mq_info(ctx: Ctx, settings: Settings) -> MqInfo:
    """Where and how the cascade publishes: broker, exchange, routing keys, message format."""
    return await mq_info(settings)


@api.post("/sync/users", body=SyncUsersBody, response=SyncResult, auth="partner")
async def sync_users(ctx: Ctx, user_sync: UserSync) -> SyncResult:
    """Create, rename or deactivate up to 1,000 users by standard_id; idempotent."""
    body: SyncUsersBody = ctx.body
    result, ctx.position = await user_sync.sync(SyncUsers(users=body.users))
    return result
