"""Realtime for one query process: the hub, the pusher, typing, presence transitions, resume."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from domain.signals import Signal, SignalBus, StatusChanged, Typing
from domain.store import EventStore
from gateway.realtime.connection import CLOSE_RESYNC, CLOSE_SLOW, CLOSE_TOO_MANY, Connection
from gateway.realtime.hub import Hub
from gateway.realtime.typing import TypingRelay
from projections.follower import FollowerRuntime
from queries.realtime.frames import make_frame
from queries.realtime.presence import Presence
from queries.realtime.pusher import MembershipSource, Pusher, Views, WaitFor
from queries.realtime.replay import replay

log = logging.getLogger("im.ws")
_READY_TIMEOUT_S = 30.0
REPLAYS_AT_ONCE = 4  # resumes replaying in this process at the same time


class Refused(Exception):
    """The connection cannot be served (e.g. ``since`` is too old): close it with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class Attached(msgspec.Struct, frozen=True):
    """Where a new connection's live stream starts, and the user's conversations there."""

    position: int
    conversations: set[int]


class Realtime:
    def __init__(
        self,
        *,
        events: EventStore,
        views: Views,
        presence: Presence,
        signals: SignalBus,
        wait_for: WaitFor,
        membership: MembershipSource,
        resume_max_events: int,
        typing_timeout: float,
        sweep_seconds: float = 30.0,
        max_per_user: int = 20,
    ) -> None:
        self.hub = Hub()
        self.presence = presence
        self._events = events
        self._views = views
        self._signals = signals
        self._horizon = resume_max_events
        self._max_per_user = max_per_user
        self._replay_locks: dict[int, asyncio.Lock] = {}
        self._replay_slots = asyncio.Semaphore(REPLAYS_AT_ONCE)
        self._replay_users: dict[int, int] = {}  # replaying or waiting, per user
        self.replays_running = 0
        self.pusher = Pusher(events, views, self.hub, wait_for, membership)
        self.pusher_runtime = FollowerRuntime(events, self.pusher)
        self.typing = TypingRelay(self.hub, typing_timeout)
        self.pusher.on_sent = self.typing.message_sent
        self._unsubscribe: Any = None
        self._sweep_s = sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.pusher_runtime.start()
        self._unsubscribe = self._signals.subscribe(self._on_signal)
        await self._signals.start()
        self._sweeper = asyncio.create_task(self._sweep(), name="presence-sweep")

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self._signals.stop()
        self.typing.stop()
        await self.pusher_runtime.stop()

    def _on_signal(self, signal: Signal) -> None:
        """Typing and status changes, from this process or (shared presence) any other."""
        if isinstance(signal, Typing):
            self.typing.on_signal(signal)
        elif isinstance(signal, StatusChanged):
            self._deliver_status(signal.user_id, signal.is_online)

    async def _sweep(self) -> None:
        """Announce offline the users whose connections died with another process."""
        while True:
            await asyncio.sleep(self._sweep_s)
            try:
                for user_id in await self.presence.sweep():
                    self._signals.publish(StatusChanged(user_id=user_id, is_online=False))
            except Exception:
                log.exception("presence sweep failed")

    async def attach(self, conn: Connection, since: int | None) -> Attached:
        """Register ``conn`` at a consistent cut of the pusher (see ``Pusher.lock``).

        Without ``since`` the socket is live from the event store's head when it connected
        (or the pusher's position, if that is further): it gets exactly the events after
        ``connection_established.position``. A client that has read up to P elsewhere (REST)
        and wants everything after P connects with ``?since=P`` instead.
        """
        try:
            async with asyncio.timeout(_READY_TIMEOUT_S):
                await self.pusher.ready()
        except TimeoutError:
            raise Refused(CLOSE_SLOW, "the server is still starting; retry") from None
        head = await self._events.head() if since is None else 0
        async with self.pusher.lock:
            if self.hub.count_of(conn.user_id) >= self._max_per_user:
                raise Refused(
                    CLOSE_TOO_MANY,
                    f"too many connections: at most {self._max_per_user} per user",
                )
            until = self.pusher.position
            if since is not None:
                await self._check_since(since, until)
                conn.seam = since
                conn.replaying = since < until
            else:
                until = max(until, head)
                conn.seam = until
            conversations = self.pusher.index.conversations_of(conn.user_id)
            self.hub.add(conn)
        return Attached(until, conversations)

    async def _check_since(self, since: int, until: int) -> None:
        if since > until and since > await self._events.head():
            raise Refused(CLOSE_RESYNC, "unknown position: resync over REST")
        # Positions are opaque (KurrentDB's are byte offsets): the store counts the events.
        # Counting to the head, not the cut, errs on the safe side by the pusher's lag.
        if since < until and await self._events.events_after(since, self._horizon + 1) > (
            self._horizon
        ):
            raise Refused(CLOSE_RESYNC, "position too old: resync over REST")

    async def resume(self, conn: Connection, since: int, attached: Attached) -> None:
        """Replay what the user missed after ``since``, then release the live frames.

        Replays are bounded: one at a time per user (their other sockets wait their turn) and
        ``REPLAYS_AT_ONCE`` in the process, so a client opening many ``?since=0`` sockets
        costs what one does, plus waiting. Live frames meanwhile stay held in each socket's
        bounded queue (overflow closes it with 1013, as always).
        """
        user_turn = self._replay_locks.setdefault(conn.user_id, asyncio.Lock())
        self._replay_users[conn.user_id] = self._replay_users.get(conn.user_id, 0) + 1
        try:
            async with user_turn, self._replay_slots:
                if conn.closing:  # gave up while waiting for its turn
                    return
                self.replays_running += 1
                try:
                    await replay(
                        self._events,
                        self._views,
                        conn.user_id,
                        since,
                        attached.position,
                        set(attached.conversations),
                        conn.push_replay,
                    )
                finally:
                    self.replays_running -= 1
        except Exception:
            log.exception("resume of %s from %d failed", conn.id, since)
            conn.fail(1011, "resume failed; reconnect")
            return
        finally:
            left = self._replay_users[conn.user_id] - 1
            if left:
                self._replay_users[conn.user_id] = left
            else:  # nobody of this user replays or waits: forget the lock
                del self._replay_users[conn.user_id]
                del self._replay_locks[conn.user_id]
        conn.end_replay(attached.position)

    async def connected(self, conn: Connection) -> None:
        if await self.presence.connect(conn.user_id, conn.id):
            self._status_changed(conn.user_id, True)

    async def disconnected(self, conn: Connection) -> None:
        self.hub.remove(conn)
        if await self.presence.disconnect(conn.user_id, conn.id):
            self._status_changed(conn.user_id, False)

    def _status_changed(self, user_id: int, online: bool) -> None:
        self._signals.publish(StatusChanged(user_id=user_id, is_online=online))

    def _deliver_status(self, user_id: int, online: bool) -> None:
        peers = self.pusher.index.peers_of(user_id)
        if peers:
            data = {"user_id": user_id, "is_online": online}
            self.hub.deliver(self.hub.connected(peers), make_frame("user_status_changed", data))

    async def stats(self) -> dict[str, Any]:
        conns = self.hub.connections()
        return {
            "total_connections": await self.presence.connection_count(),
            "online_users": len(await self.presence.online_users()),
            "local_connections": len(conns),
            "local_users": self.hub.user_count,
            "replaying_connections": sum(1 for c in conns if c.replaying),
            "replays_running": self.replays_running,
            "queued_frames": sum(c.queued for c in conns),
            "slow_disconnects": self.hub.slow_closed,
            "pusher_position": self.pusher.position,
            "pushed_events": self.pusher.delivered_events,
            "indexed_conversations": self.pusher.index.conversation_count,
            "typing_active": self.typing.active,
        }
