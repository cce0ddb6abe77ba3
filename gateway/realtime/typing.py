"""Typing signals to the other members, and the automatic stop after a quiet period or a send."""

from __future__ import annotations

import asyncio

from domain.signals import Signal, Typing
from gateway.realtime.hub import Hub
from queries.realtime.frames import make_frame

Key = tuple[int, int]  # (conversation id, user id)


class TypingRelay:
    """Pushes ``typing`` frames; sends ``is_typing: false`` itself after ``timeout`` seconds
    without a new typing signal from the same user in the same conversation, or as soon as that
    user's message in the conversation is pushed."""

    def __init__(self, hub: Hub, timeout: float) -> None:
        self._hub = hub
        self._timeout = timeout
        # Repeated "typing" signals while one is active only extend it; the frame is sent again
        # at most this often (so someone who connects meanwhile learns it soon).
        self._refresh = min(3.0, timeout / 2)
        self._timers: dict[Key, tuple[asyncio.TimerHandle, tuple[int, ...], float]] = {}
        self.coalesced = 0

    def on_signal(self, signal: Signal) -> None:
        if not isinstance(signal, Typing):
            return
        key = (signal.conversation_id, signal.user_id)
        loop = asyncio.get_running_loop()
        active = self._timers.pop(key, None)
        if active is not None:
            active[0].cancel()
        sent_at = loop.time()
        if (
            signal.is_typing
            and active is not None
            and active[1] == signal.recipients
            and sent_at - active[2] < self._refresh
        ):
            sent_at = active[2]  # already shown as typing: no new frame to everyone
            self.coalesced += 1
        else:
            self._send(key, signal.is_typing, signal.recipients)
        if signal.is_typing:
            timer = loop.call_later(self._timeout, self._expire, key)
            self._timers[key] = (timer, signal.recipients, sent_at)

    def message_sent(self, conversation_id: int, sender_id: int) -> None:
        """The sender's message ends their typing here at once (the client never sends false)."""
        self._expire((conversation_id, sender_id))

    def _expire(self, key: Key) -> None:
        active = self._timers.pop(key, None)
        if active is None:
            return
        active[0].cancel()
        self._send(key, False, active[1])

    def _send(self, key: Key, is_typing: bool, recipients: tuple[int, ...]) -> None:
        cid, uid = key
        data = {"conversation_id": cid, "user_id": uid, "is_typing": is_typing}
        self._hub.deliver((r for r in recipients if r != uid), make_frame("typing", data))

    def stop(self) -> None:
        for timer, _, _ in self._timers.values():
            timer.cancel()
        self._timers.clear()

    @property
    def active(self) -> int:
        return len(self._timers)
