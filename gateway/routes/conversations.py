"""``/conversations``: the caller's chats, single and group creation, settings, members."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from commands.conversations import (
    AddMembers,
    ClearHistory,
    ConversationHandlers,
    CreateGroup,
    DeleteConversation,
    OpenSingleChat,
    RemoveMember,
    UpdateMember,
    UpdateSettings,
)
from domain.conversation import MAX_MEMBERS_LIMIT
from gateway.command_views import CommandViews
from gateway.dates import epoch
from gateway.http import Api, Ctx, WaitFor, json_response, settle
from gateway.schemas import Id
from projections.store import ReadStore
from queries import conversations as q

api = Api("/api/v1/conversations", tag="conversations")

Name = Annotated[str, Meta(min_length=1, max_length=100)]
Text = Annotated[str, Meta(max_length=1000)]
Url = Annotated[str, Meta(max_length=1000)]
MaxMembers = Annotated[int, Meta(ge=2, le=MAX_MEMBERS_LIMIT)]
RoleName = Literal["owner", "admin", "member"]


class SingleCreate(msgspec.Struct):
    target_user_id: Id


class GroupConversationCreate(msgspec.Struct):
    name: Name
    member_ids: Annotated[list[Id], Meta(min_length=1, max_length=1000)]
    description: Text | None = None
    avatar: Url | None = None
    max_members: MaxMembers = 500
    allow_invite: bool = True
    allow_member_modify: bool = False
    is_public: bool = False


class ConversationUpdate(msgspec.Struct):
    name: Name | UnsetType = UNSET
    description: Text | UnsetType | None = UNSET
    avatar: Url | UnsetType | None = UNSET
    max_members: MaxMembers | UnsetType = UNSET
    allow_invite: bool | UnsetType = UNSET
    allow_member_modify: bool | UnsetType = UNSET
    is_public: bool | UnsetType = UNSET


class MembersAdd(msgspec.Struct):
    user_ids: Annotated[list[Id], Meta(min_length=1, max_length=1000)]
    role: RoleName = "member"


class MemberUpdate(msgspec.Struct):
    role: RoleName | UnsetType = UNSET
    nickname: Annotated[str, Meta(max_length=100)] | UnsetType | None = UNSET
    status: Literal["active", "muted"] | UnsetType = UNSET
    muted_until: dt.datetime | UnsetType | None = UNSET


async def conversation_view(
    ctx: Ctx,
    cid: int,
    position: int | None,
    read: ReadStore,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> q.Conversation:
    if not await settle(ctx, position, wait_for=wait_for):
        return await command_views.conversation(cid, ctx.me.id)
    return await q.get_for(read, cid, ctx.me.id, former_ok=True)


@api.get("/", response=list[q.Conversation])
async def list_conversations(ctx: Ctx, read: ReadStore) -> list[q.Conversation]:
    """The caller's conversations, most recent activity first."""
    return await q.list_for(read, ctx.me.id)


@api.post("/single", body=SingleCreate, response=q.Conversation, status=201)
async def create_single(
    ctx: Ctx,
    conversations: ConversationHandlers,
    read: ReadStore,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> Any:
    """The single chat with the target user: created (201) or the existing one (200)."""
    body: SingleCreate = ctx.body
    outcome = await conversations.open_single_chat(OpenSingleChat(ctx.me.id, body.target_user_id))
    view = await conversation_view(
        ctx,
        outcome.conversation_id,
        outcome.position,
        read=read,
        wait_for=wait_for,
        command_views=command_views,
    )
    return view if outcome.created else json_response(view, 200)


@api.post("/group", body=GroupConversationCreate, response=q.Conversation, status=201)
async def create_group(
    ctx: Ctx,
    conversations: ConversationHandlers,
    read: ReadStore,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> q.Conversation:
    """A group chat; the creator is its owner."""
    body: GroupConversationCreate = ctx.body
    cmd = CreateGroup(
        creator_id=ctx.me.id,
        member_ids=body.member_ids,
        name=body.name,
        description=body.description,
        avatar=body.avatar,
        max_members=body.max_members,
        allow_invite=body.allow_invite,
        allow_member_modify=body.allow_member_modify,
        is_public=body.is_public,
    )
    outcome = await conversations.create_group(cmd)
    return await conversation_view(
        ctx,
        outcome.conversation_id,
        outcome.position,
        read=read,
        wait_for=wait_for,
        command_views=command_views,
    )


@api.get("/{conversation_id:int}", response=q.Conversation)
async def get_conversation(ctx: Ctx, read: ReadStore) -> q.Conversation:
    """One conversation the caller is a member of."""
    return await q.get_for(read, ctx.path_int("conversation_id"), ctx.me.id)


@api.put("/{conversation_id:int}", body=ConversationUpdate, response=q.Conversation)
async def update_conversation(
    ctx: Ctx,
    conversations: ConversationHandlers,
    read: ReadStore,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> q.Conversation:
    """Change a group's settings (owner/admin, or any member when allow_member_modify)."""
    cid = ctx.path_int("conversation_id")
    body: ConversationUpdate = ctx.body
    cmd = UpdateSettings(
        conversation_id=cid,
        operator_id=ctx.me.id,
        name=body.name,
        description=body.description,
        avatar=body.avatar,
        max_members=body.max_members,
        allow_invite=body.allow_invite,
        allow_member_modify=body.allow_member_modify,
        is_public=body.is_public,
    )
    outcome = await conversations.update_settings(cmd)
    return await conversation_view(
        ctx, cid, outcome.position, read=read, wait_for=wait_for, command_views=command_views
    )


@api.delete("/{conversation_id:int}", status=204)
async def delete_conversation(
    ctx: Ctx, conversations: ConversationHandlers, wait_for: WaitFor
) -> None:
    """Single chat: hide it for the caller. Group: the owner dissolves it."""
    cmd = DeleteConversation(ctx.path_int("conversation_id"), ctx.me.id)
    outcome = await conversations.delete_conversation(cmd)
    await settle(ctx, outcome.position, wait_for=wait_for)


@api.get("/{conversation_id:int}/members", response=list[q.Member])
async def list_members(ctx: Ctx, read: ReadStore) -> list[q.Member]:
    """The conversation's members."""
    return await q.members(read, ctx.path_int("conversation_id"), ctx.me.id)


@api.post("/{conversation_id:int}/members", body=MembersAdd, response=q.Conversation)
async def add_members(
    ctx: Ctx,
    conversations: ConversationHandlers,
    read: ReadStore,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> q.Conversation:
    """Add members (owner/admin, or any member when allow_invite); members are skipped."""
    cid = ctx.path_int("conversation_id")
    body: MembersAdd = ctx.body
    outcome = await conversations.add_members(AddMembers(cid, ctx.me.id, body.user_ids, body.role))
    return await conversation_view(
        ctx, cid, outcome.position, read=read, wait_for=wait_for, command_views=command_views
    )


@api.delete("/{conversation_id:int}/members/{user_id:int}", response=q.Conversation)
async def remove_member(
    ctx: Ctx,
    conversations: ConversationHandlers,
    read: ReadStore,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> q.Conversation:
    """Remove a member, or leave (the owner transfers ownership first)."""
    cid = ctx.path_int("conversation_id")
    cmd = RemoveMember(cid, ctx.me.id, ctx.path_int("user_id"))
    outcome = await conversations.remove_member(cmd)
    return await conversation_view(
        ctx, cid, outcome.position, read=read, wait_for=wait_for, command_views=command_views
    )


@api.put("/{conversation_id:int}/members/{user_id:int}", body=MemberUpdate, response=q.Member)
async def update_member(
    ctx: Ctx,
    conversations: ConversationHandlers,
    read: ReadStore,
    wait_for: WaitFor,
    command_views: CommandViews,
) -> q.Member:
    """Change a member's role, mute, or nickname."""
    cid, target = ctx.path_int("conversation_id"), ctx.path_int("user_id")
    body: MemberUpdate = ctx.body
    until = body.muted_until
    cmd = UpdateMember(
        conversation_id=cid,
        operator_id=ctx.me.id,
        user_id=target,
        role=body.role,
        nickname=body.nickname,
        status=body.status,
        muted_until=epoch(until, "muted_until") if isinstance(until, dt.datetime) else until,
    )
    outcome = await conversations.update_member(cmd)
    if not await settle(ctx, outcome.position, wait_for=wait_for):
        return await command_views.member(cid, target)
    return await q.member(read, cid, ctx.me.id, target)


@api.post("/{conversation_id:int}/clear", status=204)
async def clear_history(ctx: Ctx, conversations: ConversationHandlers, wait_for: WaitFor) -> None:
    """Clear the history for the caller only, up to now."""
    cmd = ClearHistory(ctx.path_int("conversation_id"), ctx.me.id)
    outcome = await conversations.clear_history(cmd)
    await settle(ctx, outcome.position, wait_for=wait_for)
