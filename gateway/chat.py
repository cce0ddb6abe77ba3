"""Wiring of the chat: the command-side conversation cache, the send path and the handlers,
with the read-model lookups they need supplied from ``queries``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from commands.chat_state import ConversationCache, Key, Sent
from commands.conversations import ConversationHandlers
from commands.core import IdAllocator
from commands.messages import MessageHandlers
from commands.sending import Sender
from commands.users import UserHandlers
from projections.store import ReadStore
from queries.messages import find_sent, users_by_id

if TYPE_CHECKING:
    from gateway.bootstrap import Services

MESSAGE_ID_BLOCK = 1000  # one id reservation per thousand messages


class ReadDirectory:
    """User names from the users read model; users it does not have yet (a split deployment's
    projector may be behind a registration) are read from the event store, the authority."""

    def __init__(self, read: ReadStore, users: UserHandlers) -> None:
        self._read = read
        self._users = users

    async def names(self, user_ids: Sequence[int]) -> dict[int, str]:
        found = {i: d["name"] for i, d in (await users_by_id(self._read, user_ids)).items()}
        for user_id in sorted(set(user_ids) - found.keys()):
            user = await self._users.get(user_id)
            if user.exists:
                found[user_id] = user.name
        return found


class ReadSentLookup:
    """Idempotency keys already in the messages read model."""

    def __init__(self, read: ReadStore) -> None:
        self._read = read

    async def find_sent(self, conversation_id: int, keys: Sequence[Key]) -> dict[Key, Sent]:
        found = await find_sent(self._read, conversation_id, keys)
        return {k: Sent(mid, seq, None) for k, (mid, seq) in found.items()}


class Chat:
    """Conversation and message command handlers sharing one in-memory conversation cache."""

    def __init__(self, services: Services) -> None:
        s = services
        self.cache = ConversationCache(
            s.events,
            max_cached=s.settings.chat_cached_conversations,
            recent_keys=s.settings.chat_recent_keys,
            refresh_s=s.settings.chat_membership_refresh_seconds,
        )
        message_ids = IdAllocator(s.events, block_size=MESSAGE_ID_BLOCK)
        self.sender = Sender(s.events, self.cache, message_ids, ReadSentLookup(s.read), s.wait_for)
        self.conversations = ConversationHandlers(
            s.events, self.cache, self.sender, s.ids, ReadDirectory(s.read, s.users)
        )
        self.messages = MessageHandlers(
            s.events,
            self.cache,
            self.sender,
            s.signals,
            edit_window_s=s.settings.message_edit_window_seconds,
            recall_window_s=s.settings.message_recall_window_seconds,
        )
