"""``/cascade``: broker information and partner user sync (partner credential or superuser)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from commands.user_sync import MAX_USERS, SyncResult, SyncUser, SyncUsers
from gateway import cascade
from gateway.cascade import MqInfo
from gateway.http import Api, Ctx

api = Api("/api/v1/cascade", tag="cascade")


class SyncUsersBody(msgspec.Struct):
    users: Annotated[list[SyncUser], Meta(max_length=MAX_USERS)]


@api.get("/mq-info", response=MqInfo, auth="partner")
async def mq_info(ctx: Ctx) -> MqInfo:
    """Where and how the cascade publishes: broker, exchange, routing keys, message format."""
    return await cascade.mq_info(ctx.services.settings)


@api.post("/sync/users", body=SyncUsersBody, response=SyncResult, auth="partner")
async def sync_users(ctx: Ctx) -> SyncResult:
    """Create, rename or deactivate up to 1,000 users by standard_id; idempotent."""
    body: SyncUsersBody = ctx.body
    result, ctx.position = await ctx.services.user_sync.sync(SyncUsers(users=body.users))
    return result
