"""Who is online: live WebSocket connections per user, and when each user was last seen."""

from __future__ import annotations

import time


class Presence:
    """In-process presence. ``connect``/``disconnect`` return True on a user's first/last socket."""

    def __init__(self) -> None:
        self._connections: dict[int, int] = {}
        self._last_seen: dict[int, float] = {}

    def connect(self, user_id: int) -> bool:
        n = self._connections.get(user_id, 0) + 1
        self._connections[user_id] = n
        self._last_seen[user_id] = time.time()
        return n == 1

    def disconnect(self, user_id: int) -> bool:
        n = self._connections.get(user_id, 0) - 1
        self._last_seen[user_id] = time.time()
        if n <= 0:
            self._connections.pop(user_id, None)
            return True
        self._connections[user_id] = n
        return False

    def is_online(self, user_id: int) -> bool:
        return user_id in self._connections

    def last_seen(self, user_id: int) -> float | None:
        return self._last_seen.get(user_id)

    def online_users(self) -> list[int]:
        return sorted(self._connections)

    def connection_count(self) -> int:
        return sum(self._connections.values())
