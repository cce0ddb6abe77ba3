"""``/notifications/templates``: notification templates with ``{variable}`` placeholders.

Everyone signed in reads the active ones; superusers read all and write.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from commands.notification_templates import (
    CreateTemplate,
    DeleteTemplate,
    TemplateHandlers,
    UpdateTemplate,
)
from domain import notification_templates as t
from domain import notifications as n
from domain.errors import NotFoundError
from gateway.http import Api, Ctx, WaitFor, require_settled
from gateway.schemas import Limit200, Skip
from projections.store import ReadStore
from queries import notifications as q

api = Api("/api/v1/notifications/templates", tag="notifications")

Name = Annotated[str, Meta(min_length=1, max_length=t.MAX_NAME)]
TitleTemplate = Annotated[str, Meta(min_length=1, max_length=t.MAX_TEMPLATE)]
ContentTemplate = Annotated[str, Meta(max_length=t.MAX_TEMPLATE)]


class Page(msgspec.Struct):
    skip: Skip = 0
    limit: Limit200 = 50


class TemplateCreate(msgspec.Struct, forbid_unknown_fields=False):
    name: Name
    title_template: TitleTemplate
    content_template: ContentTemplate = ""
    type: n.Kind = "system"
    priority: n.Priority = "normal"
    is_active: bool = True


class TemplateUpdate(msgspec.Struct, forbid_unknown_fields=False):
    name: Name | UnsetType = UNSET
    title_template: TitleTemplate | UnsetType = UNSET
    content_template: ContentTemplate | UnsetType = UNSET
    type: n.Kind | UnsetType = UNSET
    priority: n.Priority | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


async def _visible(ctx: Ctx, template_id: int, read: ReadStore) -> q.Template:
    template = await q.get_template(read, template_id)
    if not template.is_active and not ctx.me.is_superuser:
        raise NotFoundError("Template not found")
    return template


@api.get("/", query=Page, response=list[q.Template])
async def list_templates(ctx: Ctx, read: ReadStore) -> list[q.Template]:
    """Templates by id (only active ones unless the caller is a superuser)."""
    page: Page = ctx.query
    return await q.list_templates(
        read,
        active_only=not ctx.me.is_superuser,
        skip=page.skip,
        limit=page.limit,
    )


@api.post("/", body=TemplateCreate, response=q.Template, status=201, auth="superuser")
async def create_template(
    ctx: Ctx, read: ReadStore, templates: TemplateHandlers, wait_for: WaitFor
) -> q.Template:
    """Create a template; the name must be unique (case-insensitive) (superuser)."""
    body: TemplateCreate = ctx.body
    cmd = CreateTemplate(
        name=body.name,
        kind=body.type,
        title_template=body.title_template,
        content_template=body.content_template,
        priority=body.priority,
        is_active=body.is_active,
    )
    template_id, _, position = await templates.create_template(cmd)
    await require_settled(ctx, position, wait_for=wait_for)
    return await q.get_template(read, template_id)


@api.get("/{template_id:int}", response=q.Template)
async def get_template(ctx: Ctx, read: ReadStore) -> q.Template:
    """One template."""
    return await _visible(ctx, ctx.path_int("template_id"), read=read)


@api.patch("/{template_id:int}", body=TemplateUpdate, response=q.Template, auth="superuser")
async def update_template(
    ctx: Ctx, read: ReadStore, templates: TemplateHandlers, wait_for: WaitFor
) -> q.Template:
    """Change any of a template's fields (superuser)."""
    body: TemplateUpdate = ctx.body
    template_id = ctx.path_int("template_id")
    cmd = UpdateTemplate(
        template_id=template_id,
        name=body.name,
        kind=body.type,
        title_template=body.title_template,
        content_template=body.content_template,
        priority=body.priority,
        is_active=body.is_active,
    )
    _, position = await templates.update_template(cmd)
    await require_settled(ctx, position, wait_for=wait_for)
    return await q.get_template(read, template_id)


@api.delete("/{template_id:int}", status=204, auth="superuser")
async def delete_template(ctx: Ctx, templates: TemplateHandlers) -> None:
    """Delete a template; its name becomes free (superuser)."""
    cmd = DeleteTemplate(ctx.path_int("template_id"))
    ctx.position = await templates.delete_template(cmd)
