"""``/broadcasts``: superusers' announcements (pushed live, recorded as notifications)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from commands.broadcasts import BroadcastHandlers, SendBroadcast
from domain.broadcasts import MAX_TARGETS, BroadcastSent, Priority
from domain.errors import InvalidError, NotFoundError
from domain.files import valid_file_id
from gateway.http import Api, Ctx
from gateway.schemas import Id, Limit200, Skip
from projections.store import ReadStore
from queries import broadcasts as q
from queries import users as qu
from queries.files import file_visible_to
from queries.views import iso

api = Api("/api/v1/broadcasts", tag="broadcasts")

FileId = Annotated[str, Meta(min_length=1, max_length=64)]
MAX_ATTACHMENTS = 20


class BroadcastCreate(msgspec.Struct, forbid_unknown_fields=False):
    title: Annotated[str, Meta(min_length=1, max_length=200)]
    content: Annotated[str, Meta(max_length=10000)] = ""
    priority: Priority = "normal"
    target_user_ids: Annotated[list[Id], Meta(min_length=1, max_length=MAX_TARGETS)] | None = None
    attachments: Annotated[list[FileId], Meta(max_length=MAX_ATTACHMENTS)] = []


class Page(msgspec.Struct):
    skip: Skip = 0
    limit: Limit200 = 20


async def check_attachments(ctx: Ctx, file_ids: list[str], read: ReadStore) -> list[str]:
    """The file ids, deduplicated; each must exist and be visible to the caller (else 404, as
    for a file sent in a message: existence is not revealed)."""
    wanted = list(dict.fromkeys(file_ids))
    for file_id in wanted:
        visible = valid_file_id(file_id) and await file_visible_to(read, file_id, ctx.me)
        if not visible:
            raise NotFoundError(f"Attachment not found: {file_id}")
    return wanted


async def send_broadcast(
    ctx: Ctx,
    *,
    title: str,
    content: str,
    priority: Priority,
    target_user_ids: list[int] | None,
    attachments: list[str],
    read: ReadStore,
    broadcasts: BroadcastHandlers,
) -> BroadcastSent:
    """Validate targets (known users; None = every active user) and record the broadcast."""
    targets = None
    if target_user_ids is not None:
        targets = list(dict.fromkeys(target_user_ids))
        found = await qu.existing_ids(read, targets)
        missing = [i for i in targets if i not in found]
        if missing:
            raise InvalidError(f"Unknown user ids: {missing[:20]}")
        recipients = len(targets)
    else:
        recipients = await qu.active_count(read)
    cmd = SendBroadcast(
        sender_id=ctx.me.id,
        title=title,
        content=content,
        priority=priority,
        target_user_ids=targets,
        attachments=attachments,
        recipients=recipients,
    )
    event, ctx.position = await broadcasts.send_broadcast(cmd)
    return event


@api.post("/", body=BroadcastCreate, response=q.Broadcast, status=201, auth="superuser")
async def create_broadcast(ctx: Ctx, read: ReadStore, broadcasts: BroadcastHandlers) -> q.Broadcast:
    """Send a broadcast to some users or to everyone (superuser)."""
    body: BroadcastCreate = ctx.body
    event = await send_broadcast(
        ctx,
        title=body.title,
        content=body.content,
        priority=body.priority,
        target_user_ids=body.target_user_ids,
        attachments=await check_attachments(ctx, body.attachments, read=read),
        read=read,
        broadcasts=broadcasts,
    )
    return q.Broadcast(
        id=event.broadcast_id,
        title=event.title,
        content=event.content,
        priority=event.priority,
        sender_id=event.sender_id,
        target_user_ids=event.target_user_ids,
        attachments=event.attachments,
        recipients=event.recipients,
        created_at=iso(event.at) or "",
    )


@api.get("/", query=Page, response=list[q.Broadcast])
async def list_broadcasts(ctx: Ctx, read: ReadStore) -> list[q.Broadcast]:
    """Broadcasts the caller received, newest first (superusers: every broadcast)."""
    page: Page = ctx.query
    if ctx.me.is_superuser:
        return await q.all_broadcasts(read, page.skip, page.limit)
    return await q.received(read, ctx.me.id, page.skip, page.limit)
