"""``/users``: registration, profile, search, presence statuses."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from commands.users import RegisterUser, SetAuditor, UserHandlers
from domain.errors import ForbiddenError, UnauthorizedError
from gateway.http import Api, Ctx
from gateway.schemas import Id, Limit50, Skip
from gateway.settings import Settings
from projections.store import ReadStore
from queries import users as q
from queries.realtime.presence import Presence
from queries.views import User, iso, state_view

api = Api("/api/v1/users", tag="users")


class UserCreate(msgspec.Struct, forbid_unknown_fields=False):
    standard_id: Annotated[str, Meta(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_]+$")]
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    password: Annotated[str, Meta(min_length=6, max_length=128)]


class SearchQuery(msgspec.Struct):
    keyword: Annotated[str, Meta(max_length=100)]
    skip: Skip = 0
    limit: Limit50 = 10


class StatusRequest(msgspec.Struct):
    user_ids: Annotated[list[Id], Meta(max_length=500)]


class UserStatusResponse(msgspec.Struct):
    statuses: dict[str, bool]


@api.post("/", body=UserCreate, response=User, status=201, auth="optional", rate="register")
async def create_user(ctx: Ctx, settings: Settings, users: UserHandlers) -> User:
    """Register a user (open registration, or superusers only when it is turned off)."""
    if not settings.open_registration:
        if ctx.user is None:
            raise UnauthorizedError("Not authenticated")
        if not ctx.user.is_superuser:
            raise ForbiddenError("Registration is closed; only superusers create users")
    body: UserCreate = ctx.body
    event, ctx.position = await users.register_user(
        RegisterUser(body.standard_id, body.name, body.password)
    )
    return User(
        id=event.user_id,
        standard_id=event.standard_id,
        name=event.name,
        is_active=event.is_active,
        is_superuser=event.is_superuser,
        created_at=iso(event.at) or "",
    )


@api.get("/me", response=User)
async def me(ctx: Ctx) -> User:
    """The authenticated user."""
    return ctx.me


@api.get("/search", query=SearchQuery, response=list[User])
async def search(ctx: Ctx, read: ReadStore) -> list[User]:
    """Users whose name or standard_id contains the keyword (or whose id it is)."""
    qry: SearchQuery = ctx.query
    return await q.search_users(read, qry.keyword, qry.skip, qry.limit)


@api.post("/statuses", body=StatusRequest, response=UserStatusResponse, rate=None, side="queries")
async def statuses(ctx: Ctx, presence: Presence) -> UserStatusResponse:
    """Online status of up to 500 users."""
    body: StatusRequest = ctx.body
    online = await presence.statuses(body.user_ids)
    return UserStatusResponse(statuses={str(i): v for i, v in online.items()})


@api.get("/{user_id:int}", response=User)
async def get_user(ctx: Ctx, read: ReadStore) -> User:
    """One user by id."""
    return await q.get_user(read, ctx.path_int("user_id"))


class AuditorChange(msgspec.Struct, forbid_unknown_fields=True):
    is_auditor: bool


@api.put("/{user_id:int}/auditor", body=AuditorChange, response=User, auth="superuser")
async def set_auditor(ctx: Ctx, users: UserHandlers) -> User:
    """Grant or revoke the auditor role (superusers; recorded as an event)."""
    body: AuditorChange = ctx.body
    user_id = ctx.path_int("user_id")
    ctx.position = await users.set_auditor(SetAuditor(user_id, body.is_auditor, ctx.me.id))
    return state_view(await users.get(user_id))
