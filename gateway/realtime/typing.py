"""Typing signals to the other members, and the automatic stop after a quiet period."""

from __future__ import annotations

import asyncio

from domain.signals import Signal, Typing
from gateway.realtime.hub import Hub
from queries.realtime.frames import make_frame


class TypingRelay:
    """Pushes ``typing`` frames; sends ``is_typing: false`` itself after ``timeout`` seconds
    without a new typing signal from the same user in the same conversation."""

    def __init__(self, hub: Hub, timeout: float) -> None:
        self._hub = hub
        self._timeout = timeout
        self._timers: dict[tuple[int, int], asyncio.TimerHandle] = {}

    def on_signal(self, signal: Signal) -> None:
        if not isinstance(signal, Typing):
            return
        key = (signal.conversation_id, signal.user_id)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._send(key, signal.is_typing, signal.recipients)
        if signal.is_typing:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(self._timeout, self._expire, key, signal.recipients)

    def _expire(self, key: tuple[int, int], recipients: tuple[int, ...]) -> None:
        self._timers.pop(key, None)
        self._send(key, False, recipients)

    def _send(self, key: tuple[int, int], is_typing: bool, recipients: tuple[int, ...]) -> None:
        cid, uid = key
        data = {"conversation_id": cid, "user_id": uid, "is_typing": is_typing}
        self._hub.deliver((r for r in recipients if r != uid), make_frame("typing", data))

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    @property
    def active(self) -> int:
        return len(self._timers)
