"""Ephemeral signals (typing, ...): not events, never stored; handed to in-process listeners."""

from __future__ import annotations

from collections.abc import Callable

import msgspec


class Typing(msgspec.Struct, frozen=True):
    """``user_id`` is (or stopped) typing in ``conversation_id``; ``recipients`` are the others."""

    conversation_id: int
    user_id: int
    is_typing: bool
    recipients: tuple[int, ...]


Signal = Typing
Listener = Callable[[Signal], None]


class SignalBus:
    """Synchronous fan-out to listeners; a listener must not block (it should only enqueue)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def publish(self, signal: Signal) -> None:
        for listener in list(self._listeners):
            listener(signal)
