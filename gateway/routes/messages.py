"""``/messages``: send (text, file, location), history, read marks, edit, recall, search."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from commands.messages import EditMessage, MarkRead, MessageHandlers, RecallMessage, SetTyping
from commands.sending import Draft
from domain import messages as rules
from domain.errors import InvalidError, NotFoundError
from domain.events import Event
from domain.files import valid_file_id
from domain.store import RecordedEvent
from gateway.http import (
    Api,
    Ctx,
    WaitFor,
    WaitForHead,
    caught_up,
    coordinate,
    json_response,
    require_settled,
    settle,
)
from gateway.schemas import Id, Limit200, Skip
from projections.messages import MessagesProjection
from projections.schema import MessageDoc
from projections.store import Patch, ReadStore
from queries import conversations as qc
from queries import files as qf
from queries import messages as q

api = Api("/api/v1/messages", tag="messages")

Content = Annotated[str, Meta(min_length=1, max_length=rules.MAX_CONTENT)]
ClientMsgId = Annotated[str, Meta(min_length=1, max_length=rules.MAX_CLIENT_MSG_ID)]
Seq = Annotated[int, Meta(ge=0, le=2**53 - 1)]


class MessageCreateText(msgspec.Struct):
    conversation_id: Id
    content: Content
    reply_to_id: Id | None = None
    client_msg_id: ClientMsgId | None = None


class MessageCreateFile(msgspec.Struct):
    conversation_id: Id
    file_id: Annotated[str, Meta(min_length=1, max_length=64)]
    message_type: Literal["file", "image", "audio", "video"] = "file"
    content: Annotated[str, Meta(max_length=rules.MAX_CONTENT)] | None = None
    reply_to_id: Id | None = None
    client_msg_id: ClientMsgId | None = None


class MessageCreateLocation(msgspec.Struct):
    conversation_id: Id
    latitude: float | str
    longitude: float | str
    address: Annotated[str, Meta(max_length=500)] | None = None
    client_msg_id: ClientMsgId | None = None


class MessageRead(msgspec.Struct):
    conversation_id: Id
    message_id: Id | None = None
    message_ids: Annotated[list[Id], Meta(max_length=1000)] | None = None
    seq: Seq | None = None


class MessageUpdate(msgspec.Struct):
    content: Content


class TypingRequest(msgspec.Struct):
    conversation_id: Id
    is_typing: bool = True


class HistoryQuery(msgspec.Struct):
    skip: Skip = 0
    limit: Limit200 = 100
    after_seq: Seq | None = None
    before_seq: Seq | None = None
    after: Id | None = None
    before: Id | None = None


class UnreadQuery(msgspec.Struct):
    conversation_id: Id | None = None


class MessageSearchQuery(msgspec.Struct):
    keyword: Annotated[str, Meta(min_length=1, max_length=100)]
    conversation_id: Id | None = None
    skip: Skip = 0
    limit: Limit200 = 50


async def _send(
    ctx: Ctx,
    draft: Draft,
    file_info: qf.FileInfo | None = None,
    *,
    messages: MessageHandlers,
    read: ReadStore,
    wait_for: WaitFor,
) -> Any:
    result = await messages.send(draft)
    if result.event is not None:
        ctx.position = result.position
        return q.sent_view(result.event, ctx.me, file_info)
    # a repeat: the original message, as it is now
    await require_settled(ctx, result.position, wait_for=wait_for)
    doc = await q.message_doc(read, result.message_id)
    return json_response((await q.message_views(read, [doc]))[0], 200)


async def _precheck(
    ctx: Ctx,
    body: MessageCreateText | MessageCreateFile,
    messages: MessageHandlers,
    read: ReadStore,
    wait_for_head: WaitForHead,
) -> None:
    """Before the send: the caller may send here, and ``reply_to_id`` (if any) is a message of
    this conversation."""
    await messages.precheck(body.conversation_id, ctx.me.id, body.client_msg_id)
    if body.reply_to_id is None:
        return
    found = await q.conversation_of(read, body.reply_to_id)
    if found is None:  # perhaps just sent: refuse only once the read models hold everything
        await caught_up(ctx, wait_for_head=wait_for_head)
        found = await q.conversation_of(read, body.reply_to_id)
    if found != body.conversation_id:
        raise InvalidError("reply_to_id is not a message of this conversation")


@api.post("/text", body=MessageCreateText, response=q.Message, status=201)
async def send_text(
    ctx: Ctx,
    messages: MessageHandlers,
    read: ReadStore,
    wait_for_head: WaitForHead,
    wait_for: WaitFor,
) -> Any:
    """Send a text message; a repeated client_msg_id returns the original (200)."""
    body: MessageCreateText = ctx.body
    await _precheck(ctx, body, messages=messages, read=read, wait_for_head=wait_for_head)
    draft = Draft(
        body.conversation_id,
        ctx.me.id,
        "text",
        body.content,
        reply_to_id=body.reply_to_id,
        client_msg_id=body.client_msg_id,
    )
    return await _send(ctx, draft, messages=messages, read=read, wait_for=wait_for)


@api.post("/file", body=MessageCreateFile, response=q.Message, status=201)
async def send_file(
    ctx: Ctx,
    messages: MessageHandlers,
    read: ReadStore,
    wait_for_head: WaitForHead,
    wait_for: WaitFor,
) -> Any:
    """Send an uploaded file the sender can see; sending shares it with the members."""
    body: MessageCreateFile = ctx.body
    await _precheck(ctx, body, messages=messages, read=read, wait_for_head=wait_for_head)
    view = None
    if valid_file_id(body.file_id):
        view = await qf.file_visible_to(read, body.file_id, ctx.me)
        if view is None:  # perhaps just uploaded
            await caught_up(ctx, wait_for_head=wait_for_head)
            view = await qf.file_visible_to(read, body.file_id, ctx.me)
    if view is None:
        raise NotFoundError("File not found")
    info = qf.FileInfo(
        id=view.id, file_id=view.file_id, name=view.name, size=view.size, type=view.mime_type
    )
    draft = Draft(
        body.conversation_id,
        ctx.me.id,
        body.message_type,
        body.content or view.name,
        reply_to_id=body.reply_to_id,
        client_msg_id=body.client_msg_id,
        file_id=view.file_id,
    )
    return await _send(ctx, draft, info, messages=messages, read=read, wait_for=wait_for)


@api.post("/location", body=MessageCreateLocation, response=q.Message, status=201)
async def send_location(
    ctx: Ctx, messages: MessageHandlers, read: ReadStore, wait_for: WaitFor
) -> Any:
    """Send a location (numbers or numeric strings); content is a readable line."""
    body: MessageCreateLocation = ctx.body
    lat = coordinate(body.latitude, "latitude", 90)
    lon = coordinate(body.longitude, "longitude", 180)
    await messages.precheck(body.conversation_id, ctx.me.id, body.client_msg_id)
    draft = Draft(
        body.conversation_id,
        ctx.me.id,
        "location",
        rules.location_content(lat, lon, body.address),
        client_msg_id=body.client_msg_id,
        latitude=lat,
        longitude=lon,
        address=body.address,
    )
    return await _send(ctx, draft, messages=messages, read=read, wait_for=wait_for)


@api.get("/conversation/{conversation_id:int}", query=HistoryQuery, response=list[q.Message])
async def history(ctx: Ctx, read: ReadStore) -> list[q.Message]:
    """A page of history in ascending seq (no cursor: the newest page)."""
    qry: HistoryQuery = ctx.query
    return await q.history(
        read,
        ctx.path_int("conversation_id"),
        ctx.me.id,
        skip=qry.skip,
        limit=qry.limit,
        after_seq=qry.after_seq,
        before_seq=qry.before_seq,
        after=qry.after,
        before=qry.before,
    )


@api.post("/mark-read", body=MessageRead, status=204)
async def mark_read(
    ctx: Ctx,
    messages: MessageHandlers,
    read: ReadStore,
    wait_for_head: WaitForHead,
    wait_for: WaitFor,
) -> None:
    """Move the caller's read watermark up (never back); nothing given: to the latest."""
    body: MessageRead = ctx.body
    cid = body.conversation_id
    ids = [*([body.message_id] if body.message_id else []), *(body.message_ids or [])]
    target: int | None = None
    if ids or body.seq is not None:
        seqs = [] if body.seq is None else [body.seq]
        if ids:
            read = read
            if len(await q.known_ids(read, ids)) < len(set(ids)):
                await caught_up(ctx, wait_for_head=wait_for_head)  # some may be just sent
            highest = await q.highest_seq_of(read, cid, ids, ctx.me.id)
            seqs += [] if highest is None else [highest]
        target = max(seqs, default=0)  # 0: nothing usable given, only the membership check
    position = await messages.mark_read(MarkRead(cid, ctx.me.id, target))
    await settle(ctx, position, wait_for=wait_for)


@api.get("/unread/count", query=UnreadQuery, response=qc.UnreadCount)
async def unread_count(ctx: Ctx, read: ReadStore) -> qc.UnreadCount:
    """Unread messages in one conversation, or in all of the caller's."""
    qry: UnreadQuery = ctx.query
    return await qc.unread(read, ctx.me.id, qry.conversation_id)


@api.get("/single/{message_id:int}", response=q.Message)
async def get_message(ctx: Ctx, read: ReadStore) -> q.Message:
    """One message of a conversation the caller is in."""
    return await q.get_message(read, ctx.path_int("message_id"), ctx.me.id)


async def _ref(
    ctx: Ctx, read: ReadStore, wait_for_head: WaitForHead
) -> tuple[rules.MessageRef, MessageDoc]:
    message_id = ctx.path_int("message_id")
    if await q.conversation_of(read, message_id) is None:  # perhaps just sent
        await caught_up(ctx, wait_for_head=wait_for_head)
    doc = await q.message_doc(read, message_id)
    ref = rules.MessageRef(
        doc.id,
        doc.conversation_id,
        doc.seq,
        doc.sender_id,
        doc.message_type,
        doc.created_at,
        file_id=doc.file_id,
    )
    return ref, doc


async def _current(
    ctx: Ctx,
    doc: MessageDoc,
    event: Event | None,
    position: int | None,
    read: ReadStore,
    wait_for: WaitFor,
) -> q.Message:
    if await settle(ctx, position, wait_for=wait_for):
        doc = await q.message_doc(read, doc.id)
    elif event is not None:  # committed, not projected in time: the change applied by hand
        doc = _changed(doc, event, position or 0)
    return (await q.message_views(read, [doc]))[0]


def _changed(doc: MessageDoc, event: Event, position: int) -> MessageDoc:
    """The document with the event applied, by the messages projection's own rules."""
    rec = RecordedEvent("", "", 0, position, "", b"", b"", time.time())
    for op in MessagesProjection().handle(event, rec):
        if isinstance(op, Patch):
            doc = msgspec.structs.replace(doc, **op.set)
    return doc


@api.put("/{message_id:int}", body=MessageUpdate, response=q.Message)
async def edit(
    ctx: Ctx,
    messages: MessageHandlers,
    read: ReadStore,
    wait_for_head: WaitForHead,
    wait_for: WaitFor,
) -> q.Message:
    """Edit a text message (sender only, within the edit window)."""
    ref, doc = await _ref(ctx, read=read, wait_for_head=wait_for_head)
    body: MessageUpdate = ctx.body
    event, position = await messages.edit_message(EditMessage(ref, ctx.me.id, body.content))
    return await _current(ctx, doc, event, position, read=read, wait_for=wait_for)


@api.post("/{message_id:int}/recall", response=q.Message)
async def recall(
    ctx: Ctx,
    messages: MessageHandlers,
    read: ReadStore,
    wait_for_head: WaitForHead,
    wait_for: WaitFor,
) -> q.Message:
    """Recall a message (sender within the window; a group's owner/admin any time)."""
    ref, doc = await _ref(ctx, read=read, wait_for_head=wait_for_head)
    event, position = await messages.recall_message(RecallMessage(ref, ctx.me.id))
    return await _current(ctx, doc, event, position, read=read, wait_for=wait_for)


@api.get("/{message_id:int}/read-receipts", response=q.Receipts)
async def read_receipts(ctx: Ctx, read: ReadStore) -> q.Receipts:
    """Which current members (other than the sender) have read up to the message."""
    return await q.receipts(read, ctx.path_int("message_id"), ctx.me.id)


@api.get("/search", query=MessageSearchQuery, response=list[q.Message])
async def search(ctx: Ctx, read: ReadStore) -> list[q.Message]:
    """Messages containing the keyword in the caller's conversations, newest first."""
    qry: MessageSearchQuery = ctx.query
    return await q.search(read, ctx.me.id, qry.keyword, qry.conversation_id, qry.skip, qry.limit)


@api.post("/typing", body=TypingRequest, status=204, rate=None, side="queries")
async def typing(ctx: Ctx, messages: MessageHandlers) -> None:
    """Tell the other members the caller is (or stopped) typing; not stored."""
    body: TypingRequest = ctx.body
    await messages.set_typing(SetTyping(body.conversation_id, ctx.me.id, body.is_typing))
