"""Ephemeral signals (typing, status changes): not events, never stored; handed to listeners
(in this process; ``queries.realtime.redis_presence.RedisSignals`` in every query process)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec


class Typing(msgspec.Struct, frozen=True, tag=True):
    """``user_id`` is (or stopped) typing in ``conversation_id``; ``recipients`` are the others."""

    conversation_id: int
    user_id: int
    is_typing: bool
    recipients: tuple[int, ...]


class StatusChanged(msgspec.Struct, frozen=True, tag=True):
    """``user_id``'s first connection opened (``is_online``) or last one closed, anywhere."""

    user_id: int
    is_online: bool


Signal = Typing | StatusChanged
Listener = Callable[[Signal], None]


class SignalBus:
    """Synchronous fan-out to listeners; a listener must not block (it should only enqueue)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def start(self) -> None:
        """Adapters that carry signals between processes connect here (this one: nothing)."""

    async def stop(self) -> None:
        """Counterpart of ``start``."""

    def publish(self, signal: Signal) -> None:
        for listener in list(self._listeners):
            listener(signal)
