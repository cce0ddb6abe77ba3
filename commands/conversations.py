"""Conversation commands: create, members, roles, mutes, settings, dissolve, hide, clear, invites.

Every decision runs under the conversation's lock against its in-memory state; a conflict with
another process reads the stream's tail and decides again. Membership and settings changes that
belong in the history are followed by a ``system`` message through the send path.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence

import msgspec
from msgspec import UNSET, UnsetType

from commands.chat_state import ConversationCache, Directory, Entry
from commands.core import RETRIES, IdAllocator, append, given
from commands.sending import Sender
from domain import conversations as c
from domain import membership as m
from domain.conversation import Conversation, Invite, evolve, evolve_all, require_exists
from domain.errors import ConcurrencyError, NotFoundError, UnavailableError
from domain.events import Event
from domain.messages import system_text, system_user_ids
from domain.sending import Draft
from domain.store import NO_STREAM, EventStore

Decide = Callable[[Conversation, int], list[Event]]


class CreateGroup(msgspec.Struct, frozen=True, kw_only=True):
    """A group chat with its settings; the creator becomes its owner."""

    creator_id: int
    member_ids: list[int]
    name: str
    description: str | None = None
    avatar: str | None = None
    max_members: int = 500
    allow_invite: bool = True
    allow_member_modify: bool = False
    is_public: bool = False


class OpenSingleChat(msgspec.Struct, frozen=True):
    """The single chat between the user and the target (created the first time)."""

    user_id: int
    target_id: int


class AddMembers(msgspec.Struct, frozen=True):
    conversation_id: int
    operator_id: int
    user_ids: list[int]
    role: c.Role = "member"


class RemoveMember(msgspec.Struct, frozen=True):
    """The operator removes the user, or leaves (the user is the operator)."""

    conversation_id: int
    operator_id: int
    user_id: int


class UpdateMember(msgspec.Struct, frozen=True, kw_only=True):
    """A member's role, nickname or mute; only the fields given (not ``UNSET``) change."""

    conversation_id: int
    operator_id: int
    user_id: int
    role: c.Role | UnsetType = UNSET
    nickname: str | UnsetType | None = UNSET
    status: c.MemberStatus | UnsetType = UNSET
    muted_until: float | UnsetType | None = UNSET


class UpdateSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A group's settings; only the fields given (not ``UNSET``) change."""

    conversation_id: int
    operator_id: int
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    avatar: str | UnsetType | None = UNSET
    max_members: int | UnsetType = UNSET
    allow_invite: bool | UnsetType = UNSET
    allow_member_modify: bool | UnsetType = UNSET
    is_public: bool | UnsetType = UNSET


class DeleteConversation(msgspec.Struct, frozen=True):
    """Single chat: hide it for the user. Group: the owner dissolves it."""

    conversation_id: int
    user_id: int


class ClearHistory(msgspec.Struct, frozen=True):
    """Clear the history up to now, for the user only."""

    conversation_id: int
    user_id: int


class CreateInvite(msgspec.Struct, frozen=True):
    conversation_id: int
    operator_id: int
    expires_in_hours: float
    max_uses: int | None = None


class RevokeInvite(msgspec.Struct, frozen=True):
    conversation_id: int
    operator_id: int
    code: str


class JoinGroup(msgspec.Struct, frozen=True):
    """The user joins the group with an invite code."""

    conversation_id: int
    user_id: int
    code: str


class Outcome(msgspec.Struct, frozen=True):
    """The conversation a command acted on, whether it created it, and the last position."""

    conversation_id: int
    position: int | None = None
    created: bool = False


class ConversationHandlers:
    def __init__(
        self,
        store: EventStore,
        cache: ConversationCache,
        sender: Sender,
        ids: IdAllocator,
        directory: Directory,
    ) -> None:
        self._store = store
        self._cache = cache
        self._sender = sender
        self._ids = ids
        self._directory = directory

    # -- creation -------------------------------------------------------------------------------
    async def create_group(self, cmd: CreateGroup) -> Outcome:
        await self._require_users(cmd.member_ids)
        cid = await self._ids.next("conversation")
        settings = given(cmd, "creator_id", "member_ids")
        created = m.decide_create_group(cid, cmd.creator_id, cmd.member_ids, settings, _now())
        entry = await self._create(created)
        position = await self._announce([(created, 0)], entry.position)
        return Outcome(cid, position, True)

    async def open_single_chat(self, cmd: OpenSingleChat) -> Outcome:
        """The pair's one single chat; ``created`` for whoever claimed the pair first."""
        user_id, target_id = cmd.user_id, cmd.target_id
        m.decide_create_single(0, user_id, target_id, 0.0)  # validates the pair
        await self._require_users([target_id])
        stream = c.pair_stream(user_id, target_id)
        rec = await self._store.last(stream)
        claimed = False
        if rec is None:
            cid = await self._ids.next("conversation")
            low, high = sorted((user_id, target_id))
            claim = c.PairClaimed(conversation_id=cid, user_ids=(low, high), at=time.time())
            try:
                await append(self._store, stream, [claim], NO_STREAM)
                claimed = True
            except ConcurrencyError:
                rec = await self._store.last(stream)
        if rec is not None:
            event = rec.decode()
            assert isinstance(event, c.PairClaimed)
            cid = event.conversation_id
        entry = await self._cache.get(cid)
        if not entry.state.exists:  # just claimed, or a claimer that crashed before creating
            entry = await self._create(m.decide_create_single(cid, user_id, target_id, _now()))
        outcome = await self._mutate(cid, lambda s, _: m.decide_unhide(s, user_id, _now()))
        return Outcome(cid, outcome.position, claimed)

    async def _create(self, created: c.ConversationCreated) -> Entry:
        """Append a conversation's first event; if someone else did, use theirs."""
        cid = created.conversation_id
        try:
            position = await append(self._store, c.conversation_stream(cid), [created], NO_STREAM)
        except ConcurrencyError:
            return await self._cache.get(cid)
        entry = self._cache.new_entry(cid)
        entry.state, entry.version, entry.position = evolve(Conversation(), created), 0, position
        self._cache.put(entry)
        return entry

    # -- membership -----------------------------------------------------------------------------
    async def add_members(self, cmd: AddMembers) -> Outcome:
        await self._require_users(cmd.user_ids)
        return await self._mutate(
            cmd.conversation_id,
            lambda s, seq: m.decide_add_members(
                s, cmd.operator_id, cmd.user_ids, cmd.role, seq, _now()
            ),
        )

    async def remove_member(self, cmd: RemoveMember) -> Outcome:
        return await self._mutate(
            cmd.conversation_id,
            lambda s, _: m.decide_remove_member(s, cmd.operator_id, cmd.user_id, _now()),
        )

    async def update_member(self, cmd: UpdateMember) -> Outcome:
        changes = given(cmd, "conversation_id", "operator_id", "user_id")
        return await self._mutate(
            cmd.conversation_id,
            lambda s, _: m.decide_update_member(s, cmd.operator_id, cmd.user_id, changes, _now()),
        )

    async def update_settings(self, cmd: UpdateSettings) -> Outcome:
        changes = given(cmd, "conversation_id", "operator_id")
        return await self._mutate(
            cmd.conversation_id,
            lambda s, _: m.decide_update_settings(s, cmd.operator_id, changes, _now()),
        )

    async def delete_conversation(self, cmd: DeleteConversation) -> Outcome:
        """Single chat: hide it for the caller. Group: the owner dissolves it."""

        def decide(s: Conversation, seq: int) -> list[Event]:
            require_exists(s)
            if s.is_group:
                return m.decide_dissolve(s, cmd.user_id, _now())
            return m.decide_hide(s, cmd.user_id, seq, _now())

        return await self._mutate(cmd.conversation_id, decide)

    async def clear_history(self, cmd: ClearHistory) -> Outcome:
        return await self._mutate(
            cmd.conversation_id, lambda s, seq: m.decide_clear(s, cmd.user_id, seq, _now())
        )

    async def create_invite(self, cmd: CreateInvite) -> tuple[c.InviteCodeCreated, int | None]:
        code = secrets.token_urlsafe(12)
        out: list[c.InviteCodeCreated] = []

        def decide(s: Conversation, _: int) -> list[Event]:
            out[:] = [
                m.decide_create_invite(
                    s, cmd.operator_id, code, cmd.expires_in_hours, cmd.max_uses, _now()
                )
            ]
            return list(out)

        outcome = await self._mutate(cmd.conversation_id, decide)
        return out[0], outcome.position

    async def revoke_invite(self, cmd: RevokeInvite) -> Outcome:
        return await self._mutate(
            cmd.conversation_id,
            lambda s, _: m.decide_revoke_invite(s, cmd.operator_id, cmd.code, _now()),
        )

    async def invites(self, cid: int, operator_id: int) -> list[tuple[str, Invite]]:
        """The group's invite codes that were not revoked, oldest first (owner/admin only)."""
        entry = await self._cache.get(cid)
        require_exists(entry.state)
        async with entry.lock:
            await self._cache.refresh(entry)  # codes made or revoked by another process
            m.require_invite_manager(entry.state, operator_id)
            live = [(code, i) for code, i in entry.state.invites.items() if not i.revoked]
        return sorted(live, key=lambda ci: ci[1].created_at)

    async def join_group(self, cmd: JoinGroup) -> Outcome:
        return await self._mutate(
            cmd.conversation_id,
            lambda s, seq: m.decide_join(s, cmd.user_id, cmd.code, seq, _now()),
        )

    # -- machinery ------------------------------------------------------------------------------
    async def _mutate(self, cid: int, decide: Decide) -> Outcome:
        entry = await self._cache.get(cid)
        require_exists(entry.state)
        async with entry.lock:
            # Decisions that take the last seq (hide, clear, join) must not miss messages
            # another process appended: one read of the messages stream's tail.
            await self._cache.reload_messages(entry)
            for _ in range(RETRIES):
                events = await self._cache.checked(
                    entry, lambda: decide(entry.state, entry.last_seq)
                )
                if not events:
                    return Outcome(cid, entry.known_position or None)
                try:
                    position = await append(
                        self._store, c.conversation_stream(cid), events, entry.version
                    )
                except ConcurrencyError:
                    await self._cache.reload_conversation(entry)
                    await self._cache.reload_messages(entry)
                    continue
                entry.state = evolve_all(entry.state, events)
                first_version = entry.version + 1
                entry.version += len(events)
                entry.position = max(entry.position, position)
                entry.checked_at = time.monotonic()
                break
            else:
                raise UnavailableError("The conversation is too busy right now; retry")
        versioned = [(e, first_version + i) for i, e in enumerate(events)]
        return Outcome(cid, await self._announce(versioned, position))

    async def ensure_line(self, event: Event, version: int) -> int | None:
        """Write the system line of the event at ``version`` of its conversation stream unless
        it was written already (the line's key is derived from the version): what makes the
        line certain after a crash between the two appends (``commands.system_lines``)."""
        if system_text(event, {}) is None:
            return None
        entry = await self._cache.get(event.conversation_id)  # type: ignore[attr-defined]
        if entry.version < version:
            # Another process appended this event (the system-lines follower re-asks for the
            # lines of every process's changes): judge it on a state that includes it, or a
            # stale cache writes "left the group" into a group dissolved meanwhile.
            # Under the entry's lock: a decision in flight applies its own append itself.
            async with entry.lock:
                await self._cache.reload_conversation(entry)
        return await self._announce([(event, version)], 0) or None

    async def _announce(self, events: Sequence[tuple[Event, int]], position: int) -> int:
        """Write the system messages these events (with their conversation-stream versions)
        call for; returns the last position. Each line's ``client_msg_id`` is
        ``system:<version>``, so writing it again answers with the original.
        A dissolved group's history is closed: leaving it writes no line."""
        wanted = [(e, v) for e, v in events if system_text(e, {}) is not None]
        if not wanted:
            return position
        cid = wanted[0][0].conversation_id  # type: ignore[attr-defined]
        entry = await self._cache.get(cid)
        if entry.state.status == "dissolved":
            return position
        users = sorted({u for e, _ in wanted for u in system_user_ids(e)})
        names = await self._directory.names(users)
        for e, version in wanted:
            text = system_text(e, names)
            operator = system_user_ids(e)[0]
            assert text is not None
            result = await self._sender.send(
                Draft(
                    conversation_id=e.conversation_id,  # type: ignore[attr-defined]
                    sender_id=operator,
                    message_type="system",
                    content=text,
                    client_msg_id=f"system:{version}",
                    system=True,
                )
            )
            position = max(position, result.position or 0)
        return position

    async def _require_users(self, user_ids: list[int]) -> None:
        wanted = sorted(set(user_ids))
        found = await self._directory.names(wanted)
        missing = [u for u in wanted if u not in found]
        if missing:
            raise NotFoundError(f"User not found: {', '.join(map(str, missing))}")


def _now() -> float:
    return time.time()
