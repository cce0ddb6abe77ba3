"""Who is online: a small port over live WebSocket connections, and an in-process adapter.

Presence is ephemeral (never event-sourced). The port is async and keyed by connection id so a
shared adapter (e.g. Redis: one TTL key per connection refreshed by ``touch``, a per-user set of
connection ids, first/last decided atomically in a script) can serve several query processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol


class Presence(Protocol):
    """``connect``/``disconnect`` return True on a user's first/last connection anywhere."""

    async def connect(self, user_id: int, connection_id: str) -> bool: ...

    async def disconnect(self, user_id: int, connection_id: str) -> bool: ...

    async def touch(self, user_id: int, connection_id: str) -> None:
        """The connection is alive and active (refreshes ``last_seen``)."""
        ...

    async def statuses(self, user_ids: Iterable[int]) -> dict[int, bool]: ...

    async def last_seen(self, user_id: int) -> float | None:
        """Epoch seconds of the user's last activity or disconnection; None if unknown."""
        ...

    async def online_users(self) -> list[int]: ...

    async def connection_count(self) -> int: ...

    async def sweep(self) -> list[int]:
        """Users whose last connection vanished without a disconnect (a process died), each
        reported to one caller only, who announces them offline."""
        ...

    async def close(self) -> None: ...


class LocalPresence:
    """Presence for one process (the embedded default)."""

    def __init__(self) -> None:
        self._connections: dict[int, set[str]] = {}
        self._last_seen: dict[int, float] = {}
        self._count = 0

    async def connect(self, user_id: int, connection_id: str) -> bool:
        ids = self._connections.setdefault(user_id, set())
        first = not ids
        if connection_id not in ids:
            ids.add(connection_id)
            self._count += 1
        self._last_seen[user_id] = time.time()
        return first

    async def disconnect(self, user_id: int, connection_id: str) -> bool:
        ids = self._connections.get(user_id)
        if ids is None or connection_id not in ids:
            return False
        ids.discard(connection_id)
        self._count -= 1
        self._last_seen[user_id] = time.time()
        if ids:
            return False
        del self._connections[user_id]
        return True

    async def touch(self, user_id: int, connection_id: str) -> None:
        if user_id in self._connections:
            self._last_seen[user_id] = time.time()

    async def statuses(self, user_ids: Iterable[int]) -> dict[int, bool]:
        return {uid: uid in self._connections for uid in user_ids}

    async def last_seen(self, user_id: int) -> float | None:
        return self._last_seen.get(user_id)

    async def online_users(self) -> list[int]:
        return sorted(self._connections)

    async def connection_count(self) -> int:
        return self._count

    async def sweep(self) -> list[int]:
        return []  # one process: every connection ends with a disconnect

    async def close(self) -> None:
        return None
