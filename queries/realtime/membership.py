"""Who is in which conversation, in memory, kept current from membership events alone."""

from __future__ import annotations

from collections.abc import Iterable, Set

from queries.realtime.routing import Route

_EMPTY: frozenset[int] = frozenset()


class MembershipIndex:
    """conversation id -> member ids, and user id -> conversation ids. O(1) per change."""

    def __init__(self) -> None:
        self._members: dict[int, set[int]] = {}
        self._conversations: dict[int, set[int]] = {}

    def join(self, conversation_id: int, user_ids: Iterable[int]) -> None:
        members = self._members.setdefault(conversation_id, set())
        for uid in user_ids:
            members.add(uid)
            self._conversations.setdefault(uid, set()).add(conversation_id)

    def leave(self, conversation_id: int, user_ids: Iterable[int]) -> None:
        members = self._members.get(conversation_id)
        for uid in user_ids:
            if members is not None:
                members.discard(uid)
            convs = self._conversations.get(uid)
            if convs is not None:
                convs.discard(conversation_id)
                if not convs:
                    del self._conversations[uid]
        if members is not None and not members:
            del self._members[conversation_id]

    def load(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Add (conversation id, user id) memberships, e.g. from a read model at start-up."""
        for cid, uid in pairs:
            self.join(cid, (uid,))

    def members(self, conversation_id: int) -> Set[int]:
        """The live member set (do not mutate; copy before awaiting)."""
        return self._members.get(conversation_id, _EMPTY)

    def conversations_of(self, user_id: int) -> set[int]:
        return set(self._conversations.get(user_id, _EMPTY))

    def peers_of(self, user_id: int) -> set[int]:
        """Everyone sharing at least one conversation with the user (without the user)."""
        out: set[int] = set()
        for cid in self._conversations.get(user_id, _EMPTY):
            out |= self._members.get(cid, _EMPTY)
        out.discard(user_id)
        return out

    def before(self, r: Route) -> None:
        if r.joins:
            self.join(r.conversation_id, r.joins)

    def after(self, r: Route) -> None:
        if r.leaves:
            self.leave(r.conversation_id, r.leaves)

    @property
    def conversation_count(self) -> int:
        return len(self._members)
