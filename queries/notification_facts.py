"""What the notification policy looks up in the read models: names, members, who is active."""

from __future__ import annotations

from collections.abc import Sequence

from projections.schema import CONVERSATIONS, MEMBERS, USERS, member_key
from projections.store import ReadStore


class ReadFacts:
    def __init__(self, read: ReadStore) -> None:
        self._read = read

    async def user_names(self, user_ids: Sequence[int]) -> dict[int, str]:
        docs = await self._read.get_many(USERS, [str(i) for i in dict.fromkeys(user_ids)])
        return {d.id: d.name for d in docs}

    async def active_user_ids(self) -> list[int]:
        docs = await self._read.find(USERS, {"is_active": True}, order=[("id", 1)])
        return [d.id for d in docs]

    async def superuser_ids(self) -> list[int]:
        docs = await self._read.find(USERS, {"is_superuser": True, "is_active": True})
        return sorted(d.id for d in docs)

    async def users_by_standard_ids(self, standard_ids: Sequence[str]) -> dict[str, int]:
        """Lowercased standard id -> user id, for those that exist and are active."""
        if not standard_ids:
            return {}
        lowered = list(dict.fromkeys(s.lower() for s in standard_ids))
        docs = await self._read.find(USERS, {"standard_id_lower": {"$in": lowered}})
        return {d.standard_id_lower: d.id for d in docs if d.is_active}

    async def group(self, conversation_id: int) -> tuple[str, str] | None:
        """(type, name) of a conversation, None when unknown."""
        doc = await self._read.get(CONVERSATIONS, str(conversation_id))
        return None if doc is None else (doc.type, doc.name)

    async def members_among(self, conversation_id: int, user_ids: Sequence[int]) -> list[int]:
        """Those of ``user_ids`` who are members of the conversation now."""
        keys = [member_key(conversation_id, u) for u in user_ids]
        found = {d.user_id for d in await self._read.get_many(MEMBERS, keys)}
        return [u for u in user_ids if u in found]
