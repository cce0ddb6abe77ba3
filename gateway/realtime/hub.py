"""This process's live connections by user: the pusher's sink."""

from __future__ import annotations

from collections.abc import Iterable

from gateway.realtime.connection import CLOSE_SLOW, CLOSE_UNAUTHORIZED, Connection
from queries.realtime.frames import Frame


class Hub:
    """user id -> that user's connections (several devices each get every frame)."""

    def __init__(self) -> None:
        self._by_user: dict[int, list[Connection]] = {}
        self.count = 0
        self.slow_closed = 0

    def add(self, conn: Connection) -> bool:
        """Register; True when it is the user's first connection on this process."""
        conns = self._by_user.setdefault(conn.user_id, [])
        conns.append(conn)
        self.count += 1
        return len(conns) == 1

    def remove(self, conn: Connection) -> bool:
        """Unregister; True when it was the user's last connection on this process."""
        conns = self._by_user.get(conn.user_id)
        if conns is None or conn not in conns:
            return False
        conns.remove(conn)
        self.count -= 1
        if conn.close_code == CLOSE_SLOW:
            self.slow_closed += 1
        if conns:
            return False
        del self._by_user[conn.user_id]
        return True

    def deliver(self, user_ids: Iterable[int], frame: Frame) -> None:
        by_user = self._by_user
        for uid in user_ids:
            conns = by_user.get(uid)
            if conns is not None:
                for conn in conns:
                    conn.push(frame)

    def deliver_everyone(self, frame: Frame) -> None:
        for conns in self._by_user.values():
            for conn in conns:
                conn.push(frame)

    def connected(self, user_ids: Iterable[int]) -> list[int]:
        by_user = self._by_user
        return [uid for uid in user_ids if uid in by_user]

    def end_sessions(self, user_id: int, reason: str) -> None:
        for conn in list(self._by_user.get(user_id, ())):
            conn.fail(CLOSE_UNAUTHORIZED, reason)

    def count_of(self, user_id: int) -> int:
        return len(self._by_user.get(user_id, ()))

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_user.values() for c in conns]

    @property
    def user_count(self) -> int:
        return len(self._by_user)
