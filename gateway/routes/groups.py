"""``/groups``: members (as under conversations), invite codes, joining, stats, public search."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from commands.conversations import ConversationHandlers, CreateInvite, JoinGroup, RevokeInvite
from domain.conversation import MAX_MEMBERS_LIMIT
from domain.errors import NotFoundError
from gateway.command_views import CommandViews
from gateway.http import Api, Ctx, WaitFor, WaitForHead, caught_up, settle
from gateway.routes.conversations import MembersAdd, add_members, conversation_view, remove_member
from gateway.schemas import Limit50
from projections.store import ReadStore
from queries import conversations as q
from queries.views import iso

api = Api("/api/v1/groups", tag="groups")


class InviteCreate(msgspec.Struct):
    expires_in_hours: Annotated[float, Meta(gt=0, le=8760)] = 168
    max_uses: Annotated[int, Meta(ge=1, le=MAX_MEMBERS_LIMIT)] | None = None


class InviteCode(msgspec.Struct):
    invite_code: str
    expires_at: str
    max_uses: int | None


class JoinRequest(msgspec.Struct):
    invite_code: Annotated[str, Meta(min_length=1, max_length=64)]


class GroupSearchQuery(msgspec.Struct):
    keyword: Annotated[str, Meta(max_length=100)] = ""
    limit: Limit50 = 10


# The member routes are the ones under /conversations, registered here too with their own summary.
api.post(
    "/{conversation_id:int}/members",
    body=MembersAdd,
    response=q.Conversation,
    summary="Add members to a group (same rules as under /conversations).",
)(add_members)
api.delete(
    "/{conversation_id:int}/members/{user_id:int}",
    response=q.Conversation,
    summary="Remove a member from a group, or leave it.",
)(remove_member)


@api.post("/{conversation_id:int}/invite-code", body=InviteCreate, response=InviteCode)
async def create_invite(
    ctx: Ctx, conversations: ConversationHandlers, wait_for: WaitFor
) -> InviteCode:
    """An invite code (for whoever may invite to the group)."""
    body: InviteCreate = ctx.body
    cmd = CreateInvite(
        ctx.path_int("conversation_id"), ctx.me.id, body.expires_in_hours, body.max_uses
    )
    event, position = await conversations.create_invite(cmd)
    await settle(ctx, position, wait_for=wait_for)
    return InviteCode(event.code, iso(event.expires_at) or "", event.max_uses)


class InviteCodeInfo(msgspec.Struct):
    invite_code: str
    created_by: int
    expires_at: str
    max_uses: int | None
    uses: int


@api.get("/{conversation_id:int}/invite-codes", response=list[InviteCodeInfo])
async def list_invites(ctx: Ctx, conversations: ConversationHandlers) -> list[InviteCodeInfo]:
    """The group's invite codes that were not revoked, oldest first (owner/admin)."""
    chat = conversations
    codes = await chat.invites(ctx.path_int("conversation_id"), ctx.me.id)
    return [
        InviteCodeInfo(code, i.created_by, iso(i.expires_at) or "", i.max_uses, i.uses)
        for code, i in codes
    ]


@api.delete("/{conversation_id:int}/invite-codes/{invite_code}", status=204)
async def revoke_invite(ctx: Ctx, conversations: ConversationHandlers, wait_for: WaitFor) -> None:
    """Revoke an invite code (owner/admin); it never works again."""
    cmd = RevokeInvite(ctx.path_int("conversation_id"), ctx.me.id, ctx.path_str("invite_code"))
    outcome = await conversations.revoke_invite(cmd)
    await settle(ctx, outcome.position, wait_for=wait_for)


@api.post("/join", body=JoinRequest, response=q.Conversation)
async def join(
    ctx: Ctx,
    conversations: ConversationHandlers,
    read: ReadStore,
    wait_for_head: WaitForHead,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> q.Conversation:
    """Join a group with an invite code; expired, used up or full -> 400."""
    body: JoinRequest = ctx.body
    cid = await q.invite_conversation(read, body.invite_code)
    if cid is None:  # a code just created may not be projected yet
        await caught_up(ctx, wait_for_head=wait_for_head)
        cid = await q.invite_conversation(read, body.invite_code)
    if cid is None:
        raise NotFoundError("Invite code not found")
    outcome = await conversations.join_group(JoinGroup(cid, ctx.me.id, body.invite_code))
    return await conversation_view(
        ctx, cid, outcome.position, read=read, wait_for=wait_for, command_views=command_views
    )


@api.get("/{conversation_id:int}/stats", response=q.GroupStats)
async def stats(ctx: Ctx, read: ReadStore) -> q.GroupStats:
    """Member, admin and message counts, members active in the last 7 days."""
    return await q.stats(read, ctx.path_int("conversation_id"), ctx.me.id)


@api.get("/search", query=GroupSearchQuery, response=list[q.PublicGroup])
async def search(ctx: Ctx, read: ReadStore) -> list[q.PublicGroup]:
    """Public groups whose name or description contains the keyword."""
    qry: GroupSearchQuery = ctx.query
    return await q.search_groups(read, qry.keyword, qry.limit)
