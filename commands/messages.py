"""Message commands: send (text, file, location), edit, recall, mark read, typing."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import msgspec

from commands.chat_state import ConversationCache, Entry
from commands.core import append, load, with_retry
from commands.sending import Sender, SendResult
from domain import conversations as c
from domain import messages as msg
from domain.conversation import check_can_send, require_exists, require_member
from domain.errors import ConcurrencyError, UnavailableError
from domain.events import Event
from domain.sending import Draft, validate_draft
from domain.signals import SignalBus, Typing
from domain.store import NO_STREAM, EventStore

E = TypeVar("E", bound=Event)


class EditMessage(msgspec.Struct, frozen=True):
    """The editor replaces the text of the message ``ref`` with ``content``."""

    ref: msg.MessageRef
    editor_id: int
    content: str


class RecallMessage(msgspec.Struct, frozen=True):
    ref: msg.MessageRef
    operator_id: int


class MarkRead(msgspec.Struct, frozen=True):
    """Move the user's read watermark up to ``seq`` (None: the latest), never back."""

    conversation_id: int
    user_id: int
    seq: int | None = None


class SetTyping(msgspec.Struct, frozen=True):
    """The user is (or stopped) typing in the conversation."""

    conversation_id: int
    user_id: int
    is_typing: bool = True


class MessageHandlers:
    def __init__(
        self,
        store: EventStore,
        cache: ConversationCache,
        sender: Sender,
        signals: SignalBus,
        *,
        edit_window_s: float,
        recall_window_s: float,
    ) -> None:
        self._store = store
        self._cache = cache
        self._sender = sender
        self._signals = signals
        self._edit_window = edit_window_s
        self._recall_window = recall_window_s

    async def precheck(self, cid: int, user_id: int, client_msg_id: str | None) -> None:
        """403/404 before the caller does any further lookups for a send."""
        await self._sender.precheck(cid, user_id, client_msg_id)

    async def send(self, draft: Draft) -> SendResult:
        """Validate the draft (422), then queue it: the flusher decides who may send."""
        validate_draft(draft)
        return await self._sender.send(draft)

    async def edit_message(self, cmd: EditMessage) -> tuple[c.MessageEdited | None, int | None]:
        entry = await self._entry(cmd.ref.conversation_id)
        await self._cache.checked(entry, lambda: require_member(entry.state, cmd.editor_id))
        return await self._change(
            cmd.ref,
            lambda state: msg.decide_edit(
                entry.state,
                cmd.ref,
                state,
                cmd.editor_id,
                cmd.content,
                time.time(),
                self._edit_window,
            ),
        )

    async def recall_message(
        self, cmd: RecallMessage
    ) -> tuple[c.MessageRecalled | None, int | None]:
        entry = await self._entry(cmd.ref.conversation_id)
        await self._cache.checked(entry, lambda: require_member(entry.state, cmd.operator_id))
        return await self._change(
            cmd.ref,
            lambda state: msg.decide_recall(
                entry.state, cmd.ref, state, cmd.operator_id, time.time(), self._recall_window
            ),
        )

    async def _change(
        self, ref: msg.MessageRef, decide: Callable[[msg.MessageState], list[E]]
    ) -> tuple[E | None, int | None]:
        stream = c.message_stream(ref.message_id)

        async def attempt() -> tuple[E | None, int | None]:
            state, version = await load(self._store, stream, msg.evolve_message, msg.MessageState())
            events = decide(state)
            if not events:
                return None, None
            return events[0], await append(self._store, stream, events, version)

        return await with_retry(attempt)

    async def mark_read(self, cmd: MarkRead) -> int | None:
        """The position of the watermark's move, or None when it was there already."""
        cid, user_id, seq = cmd.conversation_id, cmd.user_id, cmd.seq
        entry = await self._entry(cid)
        await self._cache.checked(entry, lambda: require_member(entry.state, user_id))
        target = entry.last_seq if seq is None else min(seq, entry.last_seq)
        stream = c.reads_stream(cid, user_id)
        async with entry.read_lock:
            for _ in range(5):
                known, version = await self._watermark(entry, user_id)
                previous = max(known, entry.own.get(user_id, 0))
                if target <= previous:
                    return None
                event = c.ReadMarked(cid, user_id, target, at=time.time(), previous_seq=previous)
                try:
                    position = await append(self._store, stream, [event], version)
                except ConcurrencyError:
                    entry.watermarks.pop(user_id, None)
                    continue
                entry.watermarks[user_id] = (target, version + 1)
                return position
        raise UnavailableError("Too many concurrent read marks; retry")

    async def _watermark(self, entry: Entry, user_id: int) -> tuple[int, int]:
        known = entry.watermarks.get(user_id)
        if known is None:
            last = await self._store.last(c.reads_stream(entry.cid, user_id))
            if last is None:
                known = (0, NO_STREAM)
            else:
                ev = last.decode()
                assert isinstance(ev, c.ReadMarked)
                known = (ev.seq, last.version)
            entry.watermarks[user_id] = known
        return known

    async def set_typing(self, cmd: SetTyping) -> None:
        """Publish a typing signal to the other members (the pusher ends it after a timeout)."""
        cid, user_id = cmd.conversation_id, cmd.user_id
        entry = await self._entry(cid)
        await self._cache.checked(entry, lambda: check_can_send(entry.state, user_id, time.time()))
        others = tuple(u for u in entry.state.members if u != user_id)
        self._signals.publish(Typing(cid, user_id, cmd.is_typing, others))

    async def _entry(self, cid: int) -> Entry:
        entry = await self._cache.get(cid)
        require_exists(entry.state)
        return entry
