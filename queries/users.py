"""User lookups: by id, by standard_id, keyword search."""

from __future__ import annotations

from collections.abc import Sequence

from domain.errors import NotFoundError
from projections.schema import USERS
from projections.store import ReadStore
from queries.views import User, user_view


async def get_user(read: ReadStore, user_id: int) -> User:
    doc = await read.get(USERS, str(user_id))
    if doc is None:
        raise NotFoundError("User not found")
    return user_view(doc)


async def find_user(read: ReadStore, user_id: int) -> User | None:
    """The user, or None when the users read model does not have them (yet)."""
    doc = await read.get(USERS, str(user_id))
    return None if doc is None else user_view(doc)


async def existing_ids(read: ReadStore, user_ids: Sequence[int]) -> dict[int, User]:
    """Those of ``user_ids`` the users read model has, by id."""
    docs = await read.get_many(USERS, [str(i) for i in dict.fromkeys(user_ids)])
    return {d.id: user_view(d) for d in docs}


async def active_count(read: ReadStore) -> int:
    return await read.count(USERS, {"is_active": True})


async def find_by_standard_id(read: ReadStore, standard_id: str) -> User | None:
    docs = await read.find(USERS, {"standard_id_lower": standard_id.lower()}, limit=1)
    return user_view(docs[0]) if docs else None


async def search_users(read: ReadStore, keyword: str, skip: int, limit: int) -> list[User]:
    """Case-insensitive substring of name or standard_id; a number also matches the exact id."""
    keyword = keyword.strip()
    if not keyword:
        return []
    found: list[User] = []
    if keyword.isascii() and keyword.isdigit() and len(keyword) < 17:
        doc = await read.get(USERS, str(int(keyword)))
        if doc is not None:
            found.append(user_view(doc))
    docs = await read.search(USERS, keyword, order=[("id", 1)], skip=skip, limit=limit)
    seen = {x.id for x in found}
    found.extend(user_view(d) for d in docs if d.id not in seen)
    return found[:limit]
