"""``/realtime``: presence queries, connection stats and broadcasts (the socket is in endpoint)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from commands.broadcasts import BroadcastHandlers
from domain.broadcasts import MAX_TARGETS, Priority
from gateway.http import Api, Ctx
from gateway.realtime.service import Realtime
from gateway.routes.broadcasts import send_broadcast
from gateway.schemas import Id
from projections.store import ReadStore
from queries import users as q
from queries.realtime.presence import Presence
from queries.views import iso

api = Api("/api/v1/realtime", tag="realtime")


class OnlineUsers(msgspec.Struct):
    online_users: list[int]
    count: int


class UserStatus(msgspec.Struct):
    user_id: int
    is_online: bool
    last_seen: str | None


class BroadcastRequest(msgspec.Struct, forbid_unknown_fields=False):
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    content: Annotated[str, Meta(max_length=10000)] = ""
    priority: Priority = "normal"
    target_user_ids: Annotated[list[Id], Meta(min_length=1, max_length=MAX_TARGETS)] | None = None


class BroadcastResult(msgspec.Struct):
    broadcast_id: int
    recipients: int


@api.get("/online-users", response=OnlineUsers)
async def online_users(ctx: Ctx, presence: Presence) -> OnlineUsers:
    """Users with at least one open WebSocket connection."""
    ids = await presence.online_users()
    return OnlineUsers(online_users=ids, count=len(ids))


@api.get("/user-status/{user_id:int}", response=UserStatus)
async def user_status(ctx: Ctx, read: ReadStore, presence: Presence) -> UserStatus:
    """Whether a user is online, and when they were last seen (null: not since start-up)."""
    user = await q.get_user(read, ctx.path_int("user_id"))
    online = (await presence.statuses([user.id]))[user.id]
    return UserStatus(user.id, online, iso(await presence.last_seen(user.id)))


@api.post("/broadcast", body=BroadcastRequest, response=BroadcastResult, auth="superuser")
async def broadcast(ctx: Ctx, read: ReadStore, broadcasts: BroadcastHandlers) -> BroadcastResult:
    """Push ``broadcast_received`` to the target users, or to everyone (superuser)."""
    body: BroadcastRequest = ctx.body
    event = await send_broadcast(
        ctx,
        title=body.title,
        content=body.content,
        priority=body.priority,
        target_user_ids=body.target_user_ids,
        attachments=[],
        read=read,
        broadcasts=broadcasts,
    )
    return BroadcastResult(broadcast_id=event.broadcast_id, recipients=event.recipients)


@api.get("/connection-stats", response=dict[str, Any], auth="superuser")
async def connection_stats(ctx: Ctx, realtime: Realtime) -> dict[str, Any]:
    """Connections, online users and pusher progress of this query process (superuser)."""
    return await realtime.stats()
