"""Notification templates: ``{variable}`` placeholders, unique names, rendering.

Streams: ``notiftemplate-{id}`` (created, updated, deleted) and ``notiftemplatename-{lower name}``
(``TemplateNameClaimed``). A claim counts only while its template exists and still has that
name, so renames and deletions free names without a release event, and a claimer that crashed
before creating its template blocks nobody.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import assert_never

import msgspec

from domain.errors import InvalidError, NotFoundError
from domain.events import Event
from domain.notifications import Kind, Priority

# ``{name}`` is a placeholder; ``{{`` and ``}}`` are literal braces; any other brace is kept.
TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_NAME = 100
MAX_TEMPLATE = 5000
Scalar = str | int | float | bool | None


def template_stream(template_id: int) -> str:
    return f"notiftemplate-{template_id}"


def name_stream(name: str) -> str:
    return f"notiftemplatename-{name.strip().lower()}"


class TemplateFields(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    kind: Kind = "system"
    title_template: str
    content_template: str
    priority: Priority = "normal"
    is_active: bool = True


class TemplateCreated(Event, frozen=True, tag="NotificationTemplateCreated"):
    template_id: int
    fields: TemplateFields
    at: float = 0.0


class TemplateUpdated(Event, frozen=True, tag="NotificationTemplateUpdated"):
    """The template's fields after the change, in full."""

    template_id: int
    fields: TemplateFields
    at: float = 0.0


class TemplateDeleted(Event, frozen=True, tag="NotificationTemplateDeleted"):
    template_id: int
    at: float = 0.0


class TemplateNameClaimed(Event, frozen=True, tag="NotificationTemplateNameClaimed"):
    name: str
    template_id: int


TemplateEvent = TemplateCreated | TemplateUpdated | TemplateDeleted
TemplateNameEvent = TemplateNameClaimed


class Template(msgspec.Struct):
    template_id: int = 0
    fields: TemplateFields | None = None
    deleted: bool = False

    @property
    def exists(self) -> bool:
        return self.fields is not None and not self.deleted


def evolve(state: Template, event: Event) -> Template:
    if not isinstance(event, TemplateEvent):
        return state
    match event:
        case TemplateCreated() | TemplateUpdated():
            return Template(template_id=event.template_id, fields=event.fields)
        case TemplateDeleted():
            return msgspec.structs.replace(state, deleted=True)
        case _:
            assert_never(event)


def require(state: Template) -> TemplateFields:
    if not state.exists or state.fields is None:
        raise NotFoundError("Template not found")
    return state.fields


def validate(fields: TemplateFields) -> TemplateFields:
    """The rules: a name and a title that are not blank; the name is kept stripped. Types and
    limits (lengths up to ``MAX_NAME`` and ``MAX_TEMPLATE``, the kind, the priority) are the
    request schema's."""
    name = fields.name.strip()
    if not name:
        raise InvalidError(f"name must be 1-{MAX_NAME} characters")
    if not fields.title_template.strip():
        raise InvalidError(f"title_template must be 1-{MAX_TEMPLATE} characters")
    return msgspec.structs.replace(fields, name=name)


def claim_holds(claimed: TemplateNameClaimed, holder: Template) -> bool:
    """Whether the claim still blocks its name: the template exists and keeps that name."""
    return (
        holder.exists
        and holder.fields is not None
        and holder.fields.name.lower() == claimed.name.lower()
    )


def variables_of(text: str) -> list[str]:
    return list(dict.fromkeys(m.group(1) for m in TOKEN.finditer(text) if m.group(1)))


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def render(text: str, variables: Mapping[str, Scalar]) -> str:
    """Replace each ``{name}``; a placeholder without a variable is an InvalidError (400).
    ``{{``/``}}`` give literal braces; braces that form no placeholder are kept as they are."""
    missing = [v for v in variables_of(text) if v not in variables]
    if missing:
        raise InvalidError(f"Missing template variable(s): {', '.join(missing)}")
    return TOKEN.sub(lambda m: _text(variables[m.group(1)]) if m.group(1) else m.group(0)[0], text)
