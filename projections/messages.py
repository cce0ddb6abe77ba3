"""The messages read model: one document per message, indexed by ``(conversation_id, seq)``,
by idempotency key, and searchable by content. Receipts are not stored per reader: they come
from the members' watermarks in the conversations read model."""

from __future__ import annotations

from typing import Any, assert_never

from domain import conversations as c
from domain.events import Event, type_names
from domain.store import RecordedEvent
from projections.schema import MESSAGES, MessageDoc
from projections.store import Collection, Op, Put


def message_doc(event: c.MessageSent) -> MessageDoc:
    """The document of a message as sent."""
    return MessageDoc(
        id=event.message_id,
        conversation_id=event.conversation_id,
        seq=event.seq,
        sender_id=event.sender_id,
        message_type=event.message_type,
        content=event.content,
        status="sent",
        reply_to_id=event.reply_to_id,
        client_msg_id=event.client_msg_id,
        file_id=event.file_id,
        latitude=event.latitude,
        longitude=event.longitude,
        address=event.address,
        created_at=event.at,
        updated_at=event.at,
        edited_at=None,
        recalled_at=None,
        search_text=event.content if event.message_type != "system" else "",
    )


def _sent(event: c.MessageSent) -> list[Op]:
    return [Put(MESSAGES.name, str(event.message_id), message_doc(event))]


class MessagesProjection:
    name = "messages"
    collections: tuple[Collection[Any], ...] = (MESSAGES,)
    # The only events handle acts on: the projector skips the others without calling it.
    handles = type_names(c.MessageEvent)

    def handle(self, event: Event, rec: RecordedEvent) -> list[Op]:
        if type(event) is c.MessageSent:  # most of any log: before the union check and the match
            return _sent(event)
        if not isinstance(event, c.MessageEvent):
            return []
        match event:
            case c.MessageSent():
                return _sent(event)
            case c.MessageEdited():
                change = {
                    "content": event.content,
                    "status": "edited",
                    "edited_at": event.at,
                    "updated_at": event.at,
                    "search_text": event.content,
                }
                return [MESSAGES.patch(str(event.message_id), set=change, upsert=False)]
            case c.MessageRecalled():
                change = {
                    "content": "",
                    "status": "recalled",
                    "recalled_at": event.at,
                    "updated_at": event.at,
                    "search_text": "",
                }
                return [MESSAGES.patch(str(event.message_id), set=change, upsert=False)]
            case c.ReadMarked():
                return []
            case _:
                assert_never(event)
