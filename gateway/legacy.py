"""``/api/legacy``: the whole ``/api/v1`` surface in the previous system's shapes.

The previous system's web client (see the README, "Migrating from the previous system") is
served unchanged by building it with ``VITE_API_VERSION=legacy``. This mount is a translation
layer only: every route is the ``/api/v1`` route's own handler (same commands, same queries,
same authorization), with the response reshaped where the client reads something else:

- history answers ``{messages, has_more, limit}`` and also takes ``before_cursor`` /
  ``after_cursor`` (a message id as a string) next to ``before`` / ``after`` / ``skip``;
- a Conversation's ``updated_at`` is its last activity (the later of its settings change and
  its last message), which the client shows as the list time;
- a Message's ``message_type`` is ``"file"`` for every file kind (``image``, ``audio`` and
  ``video`` are kept in ``file_kind``), and location coordinates are strings;
- ``GET /conversation_members?conversation_id=`` answers like ``/conversations/{id}/members``.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from starlette.responses import Response

from domain.conversations import FILE_TYPES
from gateway.http import Api, Ctx, RouteSpec, ValidationFailed, ValidationIssue, json_response
from gateway.schemas import Id, Limit200, Skip
from projections.store import ReadStore
from queries import conversations as qc
from queries import messages as qm

V1 = "/api/v1"
PREFIX = "/api/legacy"
_decoder = msgspec.json.Decoder()

Cursor = Annotated[str, Meta(min_length=1, max_length=20)]


class LegacyHistoryQuery(msgspec.Struct):
    limit: Limit200 = 20
    before: Id | None = None
    after: Id | None = None
    before_cursor: Cursor | None = None
    after_cursor: Cursor | None = None
    skip: Skip = 0


class MessagePage(msgspec.Struct):
    messages: list[dict[str, Any]]
    has_more: bool
    limit: int


class MembersQuery(msgspec.Struct):
    conversation_id: Id


def _cursor(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        issue = ValidationIssue(["query", name], "a cursor is a message id", "value_error")
        raise ValidationFailed([issue])
    return int(value)


def _pick(*values: int | None) -> int | None:
    given = [v for v in values if v is not None]
    return min(given) if given else None


async def history(ctx: Ctx, read: ReadStore) -> MessagePage:
    """A page of history: ``{messages, has_more, limit}``; no cursor gives the newest page."""
    qry: LegacyHistoryQuery = ctx.query
    before = _pick(qry.before, _cursor(qry.before_cursor, "before_cursor"))
    afters = [a for a in (qry.after, _cursor(qry.after_cursor, "after_cursor")) if a is not None]
    after = max(afters) if afters else None
    page = await qm.history(
        read,
        ctx.path_int("conversation_id"),
        ctx.me.id,
        skip=qry.skip,
        limit=qry.limit + 1,  # one more tells whether there is more
        after=after,
        before=before,
    )
    has_more = len(page) > qry.limit
    if has_more:  # ascending pages: after a cursor the extra one is the newest, else the oldest
        page = page[: qry.limit] if after is not None else page[1:]
    messages = [message_data(msgspec.to_builtins(m)) for m in page]
    return MessagePage(messages=messages, has_more=has_more, limit=qry.limit)


def message_data(data: dict[str, Any]) -> dict[str, Any]:
    kind = data.get("message_type")
    if kind in FILE_TYPES and kind != "file":
        data["message_type"] = "file"
        data["file_kind"] = kind
    for field in ("latitude", "longitude"):
        value = data.get(field)
        if value is not None:
            data[field] = repr(float(value))
    return data


def conversation_data(data: dict[str, Any]) -> dict[str, Any]:
    last = data.get("last_message_at")
    if last is not None and last > data["updated_at"]:  # same ISO format: text order is time
        data["updated_at"] = last
    if data.get("last_message") is not None:
        data["last_message"] = message_data(data["last_message"])
    return data


_RESHAPE: dict[Any, Callable[[dict[str, Any]], dict[str, Any]]] = {
    qm.Message: message_data,
    qc.Conversation: conversation_data,
}


def _reshaper(response: Any) -> Callable[[Any], Any] | None:
    """How to reshape a handler's result for the route's declared response type, if at all."""
    one = _RESHAPE.get(response)
    if one is not None:
        return one
    args = getattr(response, "__args__", None)
    if getattr(response, "__origin__", None) is list and args and args[0] in _RESHAPE:
        item = _RESHAPE[args[0]]
        return lambda items: [item(x) for x in items]
    return None


def _translated(handler: Any, reshape: Callable[[Any], Any]) -> Any:
    @functools.wraps(handler)  # the same parameters: the same dependencies get bound
    async def run(ctx: Ctx, **deps: Any) -> Any:
        result = await handler(ctx, **deps)
        if isinstance(result, Response):  # an explicit status (a repeat send, an existing chat)
            if result.media_type != "application/json" or not result.body:
                return result
            body = reshape(_decoder.decode(result.body))
            headers = {k: v for k, v in result.headers.items() if k.lower() != "content-length"}
            return json_response(body, result.status_code, headers)
        if result is None:
            return None
        return reshape(msgspec.to_builtins(result))

    return run


def legacy_specs(specs: list[RouteSpec]) -> list[RouteSpec]:
    """Every ``/api/v1`` route again under ``/api/legacy``, reshaped where the old client reads
    something else."""
    out: list[RouteSpec] = []
    by_key = {(s.method, s.path): s for s in specs}
    for spec in specs:
        if not spec.path.startswith(V1 + "/"):
            continue
        path = PREFIX + spec.path[len(V1) :]
        override = _OVERRIDES.get((spec.method, spec.path))
        if override is not None:
            out.append(msgspec.structs.replace(override, path=path, side=spec.side))
            continue
        reshape = _reshaper(spec.response)
        handler = spec.handler if reshape is None else _translated(spec.handler, reshape)
        out.append(msgspec.structs.replace(spec, path=path, handler=handler))
    members = by_key.get(("GET", V1 + "/conversations/{conversation_id:int}/members"))
    if members is not None:
        out.append(
            msgspec.structs.replace(
                members,
                path=PREFIX + "/conversation_members",
                handler=_members_alias(members.handler),
                query=MembersQuery,
                summary="The conversation's members (the old client's fallback path)",
            )
        )
    return out


def _members_alias(handler: Callable[..., Awaitable[Any]]) -> Any:
    @functools.wraps(handler)
    async def run(ctx: Ctx, **deps: Any) -> Any:
        qry: MembersQuery = ctx.query
        ctx.request.path_params["conversation_id"] = qry.conversation_id
        return await handler(ctx, **deps)

    return run


_legacy = Api(V1 + "/messages", tag="legacy")
_legacy.get("/conversation/{conversation_id:int}", query=LegacyHistoryQuery, response=MessagePage)(
    history
)
_OVERRIDES = {(s.method, s.path): s for s in _legacy.routes}
