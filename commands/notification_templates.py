"""Notification template commands: create, update, delete, with names unique (case-insensitive)."""

from __future__ import annotations

import time

import msgspec
from msgspec import UNSET, UnsetType

from commands.core import IdAllocator, append, given, load, with_retry
from domain import notification_templates as t
from domain import notifications as n
from domain.errors import InvalidError
from domain.store import NO_STREAM, EventStore


class CreateTemplate(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: n.Kind = "system"
    title_template: str
    content_template: str = ""
    priority: n.Priority = "normal"
    is_active: bool = True


class UpdateTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """Change the template's fields given (not ``UNSET``); the others keep their values."""

    template_id: int
    name: str | UnsetType = UNSET
    kind: n.Kind | UnsetType = UNSET
    title_template: str | UnsetType = UNSET
    content_template: str | UnsetType = UNSET
    priority: n.Priority | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


class DeleteTemplate(msgspec.Struct, frozen=True):
    template_id: int


class TemplateHandlers:
    """Each handler returns the template's fields afterwards and the last event's position."""

    def __init__(self, store: EventStore, ids: IdAllocator) -> None:
        self._store = store
        self._ids = ids

    async def get(self, template_id: int) -> t.Template:
        state, _ = await load(self._store, t.template_stream(template_id), t.evolve, t.Template())
        return state

    async def create_template(self, cmd: CreateTemplate) -> tuple[int, t.TemplateFields, int]:
        fields = t.validate(
            t.TemplateFields(
                name=cmd.name,
                kind=cmd.kind,
                title_template=cmd.title_template,
                content_template=cmd.content_template,
                priority=cmd.priority,
                is_active=cmd.is_active,
            )
        )
        template_id = await self._ids.next("notification_template")
        await self._claim(fields.name, template_id)
        created = t.TemplateCreated(template_id=template_id, fields=fields, at=time.time())
        position = await append(self._store, t.template_stream(template_id), [created], NO_STREAM)
        return template_id, fields, position

    async def update_template(self, cmd: UpdateTemplate) -> tuple[t.TemplateFields, int | None]:
        template_id, changes = cmd.template_id, given(cmd, "template_id")
        stream = t.template_stream(template_id)

        async def attempt() -> tuple[t.TemplateFields, int | None]:
            state, version = await load(self._store, stream, t.evolve, t.Template())
            current = t.require(state)
            wanted = t.validate(msgspec.structs.replace(current, **changes))
            if wanted == current:
                return current, None
            if wanted.name.lower() != current.name.lower():
                await self._claim(wanted.name, template_id)
            updated = t.TemplateUpdated(template_id=template_id, fields=wanted, at=time.time())
            return wanted, await append(self._store, stream, [updated], version)

        return await with_retry(attempt)

    async def delete_template(self, cmd: DeleteTemplate) -> int:
        template_id = cmd.template_id
        stream = t.template_stream(template_id)

        async def attempt() -> int:
            state, version = await load(self._store, stream, t.evolve, t.Template())
            t.require(state)
            deleted = t.TemplateDeleted(template_id=template_id, at=time.time())
            return await append(self._store, stream, [deleted], version)

        return await with_retry(attempt)

    async def _claim(self, name: str, template_id: int) -> None:
        """Own ``name`` for ``template_id``; InvalidError when another template holds it."""
        stream = t.name_stream(name)

        async def attempt() -> None:
            rec = await self._store.last(stream)
            version = NO_STREAM
            if rec is not None:
                version = rec.version
                claim = rec.decode()
                assert isinstance(claim, t.TemplateNameClaimed)
                if claim.template_id == template_id:
                    return
                if t.claim_holds(claim, await self.get(claim.template_id)):
                    raise InvalidError("A template with this name already exists")
            claimed = t.TemplateNameClaimed(name=name, template_id=template_id)
            await append(self._store, stream, [claimed], version)

        await with_retry(attempt)
