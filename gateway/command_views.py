"""Answers built from what the command side knows, for writes whose read models lag.

A committed write never answers 5xx (the contract's Conventions): when the projector has not
included a write within ``IM_READ_WAIT_SECONDS``, the response is built from the command side's
own state (the conversation cache, the event store) with the same view types the read side uses.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from domain import conversations as c
from domain.errors import NotFoundError
from domain.users import User as UserState
from projections.schema import MemberDoc, UserDoc
from queries import conversations as qc
from queries import messages as qm
from queries.views import iso, state_view

if TYPE_CHECKING:
    from commands.chat_state import ConversationCache, Entry
    from commands.users import UserHandlers
    from domain.store import EventStore


def _watermark(entry: Entry, user_id: int) -> int:
    explicit = entry.watermarks.get(user_id, (0, 0))[0]
    return max(explicit, entry.own.get(user_id, 0))


class CommandViews:
    """Views from the command side's state: the conversation cache, users, the event store."""

    def __init__(self, events: EventStore, users: UserHandlers, cache: ConversationCache) -> None:
        self._events = events
        self._users = users
        self._cache = cache

    async def _people(self, user_ids: list[int]) -> dict[int, UserState]:
        states = await asyncio.gather(*(self._users.get(u) for u in user_ids))
        return {u: s for u, s in zip(user_ids, states, strict=True) if s.exists}

    async def conversation(self, cid: int, viewer: int) -> qc.Conversation:
        """The Conversation as ``viewer`` sees it, from the command side's state."""
        entry = await self._cache.get(cid)
        state = entry.state
        members = sorted(state.members, key=lambda u: (state.members[u].joined_at, u))
        people = await self._people(members)
        participants = [
            qc.Participant(u, p.standard_id, p.name, p.is_active) for u, p in people.items()
        ]
        last_message = None
        last = await self._events.last(c.messages_stream(cid))
        if last is not None:
            event = last.decode()
            if isinstance(event, c.MessageSent):
                sender = people.get(event.sender_id) or await self._users.get(event.sender_id)
                last_message = qm.sent_view(event, state_view(sender), None)
        created = iso(state.created_at) or ""
        return qc.Conversation(
            id=cid,
            type=state.conversation_type,
            name=qc.shown_name(state.conversation_type, state.name, participants, viewer),
            description=state.description,
            avatar=state.avatar,
            max_members=state.max_members,
            allow_invite=state.allow_invite,
            allow_member_modify=state.allow_member_modify,
            is_public=state.is_public,
            status=state.status,
            creator_id=state.creator_id,
            created_at=created,
            updated_at=last_message.created_at if last_message else created,
            member_count=len(state.members),
            participants=participants,
            last_seq=entry.last_seq,
            last_message=last_message,
            last_message_at=last_message.created_at if last_message else None,
            unread_count=max(0, entry.last_seq - _watermark(entry, viewer)),
        )

    async def member(self, cid: int, user_id: int) -> qc.Member:
        entry = await self._cache.get(cid)
        m = entry.state.members.get(user_id)
        if m is None:
            raise NotFoundError("Member not found")
        person = (await self._people([user_id])).get(user_id)
        doc = MemberDoc(
            conversation_id=cid,
            user_id=user_id,
            role=m.role,
            status=m.status,
            nickname=m.nickname,
            muted_until=m.muted_until,
            joined_at=m.joined_at,
            last_read_seq=_watermark(entry, user_id),
        )
        user = None
        if person is not None:
            user = UserDoc(
                id=user_id,
                standard_id=person.standard_id,
                standard_id_lower=person.standard_id.lower(),
                name=person.name,
                is_active=person.is_active,
                is_superuser=person.is_superuser,
                created_at=person.registered_at,
            )
        return qc.member_view(doc, user)
