"""Presence and ephemeral signals shared by every query process, on Redis (``IM_REDIS_URL``).

Keys (all under the prefix ``P``, default ``im:``):

- ``P conn:<connection id>`` = user id, with a TTL refreshed by ``touch`` (the client's frames):
  a connection of a process that died expires by itself;
- ``P user:<user id>``: the set of that user's connection ids;
- ``P online``: the set of users with a connection; ``P conns``: every connection id;
- ``P seen``: a hash user id -> last activity or disconnection (epoch seconds).

Each change runs as one Lua script, so "first connection" and "last disconnection" are decided
atomically across processes; a script also drops the user's connections whose key expired.
``sweep`` (run periodically by every query process) finds users whose last connection expired
and reports each to exactly one caller. Signals (typing, status changes) travel on the pub/sub
channel ``P signals``; every process, the publisher included, hands them to its listeners.
Keys are built inside the scripts, so this is for a single Redis (or one hash slot), not a
cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from typing import Any

import msgspec
import redis.asyncio as redis

from domain.signals import Signal, SignalBus

log = logging.getLogger("im.redis")

_CLEAN = """
local function clean(prefix, user)
  local set = prefix .. 'user:' .. user
  for _, c in ipairs(redis.call('SMEMBERS', set)) do
    if redis.call('EXISTS', prefix .. 'conn:' .. c) == 0 then
      redis.call('SREM', set, c)
      redis.call('SREM', prefix .. 'conns', c)
    end
  end
  return redis.call('SCARD', set)
end
"""

# ARGV: prefix, user, connection, ttl, now -> 1 on the user's first connection
_CONNECT = (
    _CLEAN
    + """
local prefix, user, conn = ARGV[1], ARGV[2], ARGV[3]
redis.call('SET', prefix .. 'conn:' .. conn, user, 'EX', ARGV[4])
redis.call('SADD', prefix .. 'user:' .. user, conn)
redis.call('SADD', prefix .. 'conns', conn)
redis.call('HSET', prefix .. 'seen', user, ARGV[5])
local n = clean(prefix, user)
local added = redis.call('SADD', prefix .. 'online', user)
if n == 1 or added == 1 then return 1 end
return 0
"""
)

# ARGV: prefix, user, connection, now -> 1 on the user's last disconnection
_DISCONNECT = (
    _CLEAN
    + """
local prefix, user, conn = ARGV[1], ARGV[2], ARGV[3]
redis.call('DEL', prefix .. 'conn:' .. conn)
redis.call('SREM', prefix .. 'conns', conn)
local was = redis.call('SREM', prefix .. 'user:' .. user, conn)
if was == 0 then return 0 end
redis.call('HSET', prefix .. 'seen', user, ARGV[4])
if clean(prefix, user) > 0 then return 0 end
return redis.call('SREM', prefix .. 'online', user)
"""
)

# ARGV: prefix, user, connection, ttl, now
_TOUCH = """
local prefix, user, conn = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXPIRE', prefix .. 'conn:' .. conn, ARGV[4]) == 1 then
  redis.call('HSET', prefix .. 'seen', user, ARGV[5])
end
return 0
"""

# ARGV: prefix, user ids... -> 1/0 per user (live connections only)
_STATUSES = (
    _CLEAN
    + """
local out = {}
for i = 2, #ARGV do
  if clean(ARGV[1], ARGV[i]) > 0 then out[#out + 1] = 1 else out[#out + 1] = 0 end
end
return out
"""
)

# ARGV: prefix, now -> users whose last connection expired (each reported once)
_SWEEP = (
    _CLEAN
    + """
local prefix = ARGV[1]
local gone = {}
for _, user in ipairs(redis.call('SMEMBERS', prefix .. 'online')) do
  if clean(prefix, user) == 0 then
    redis.call('SREM', prefix .. 'online', user)
    redis.call('HSET', prefix .. 'seen', user, ARGV[2])
    gone[#gone + 1] = user
  end
end
return gone
"""
)

_signal = msgspec.json.Decoder(Signal)  # type: ignore[arg-type]


class RedisPresence:
    """The ``Presence`` port over Redis; ``ttl`` bounds how long a dead process's connections
    count as online."""

    def __init__(self, url: str, prefix: str = "im:", ttl: float = 120.0) -> None:
        self._redis: Any = redis.from_url(url)
        self._prefix = prefix
        self._ttl = max(1, int(ttl))
        self._connect = self._redis.register_script(_CONNECT)
        self._disconnect = self._redis.register_script(_DISCONNECT)
        self._touch = self._redis.register_script(_TOUCH)
        self._statuses = self._redis.register_script(_STATUSES)
        self._sweep = self._redis.register_script(_SWEEP)

    async def connect(self, user_id: int, connection_id: str) -> bool:
        args: list[str | int | float] = [
            self._prefix,
            user_id,
            connection_id,
            self._ttl,
            time.time(),
        ]
        return bool(await self._connect(args=args))

    async def disconnect(self, user_id: int, connection_id: str) -> bool:
        args: list[str | int | float] = [self._prefix, user_id, connection_id, time.time()]
        return bool(await self._disconnect(args=args))

    async def touch(self, user_id: int, connection_id: str) -> None:
        await self._touch(args=[self._prefix, user_id, connection_id, self._ttl, time.time()])

    async def statuses(self, user_ids: Iterable[int]) -> dict[int, bool]:
        ids = list(dict.fromkeys(user_ids))
        if not ids:
            return {}
        flags = await self._statuses(args=[self._prefix, *ids])
        return {uid: bool(f) for uid, f in zip(ids, flags, strict=True)}

    async def last_seen(self, user_id: int) -> float | None:
        raw = await self._redis.hget(self._prefix + "seen", str(user_id))
        return None if raw is None else float(raw)

    async def online_users(self) -> list[int]:
        members = await self._redis.smembers(self._prefix + "online")
        ids = sorted(int(m) for m in members)
        flags = await self.statuses(ids)
        return [uid for uid in ids if flags.get(uid)]

    async def connection_count(self) -> int:
        return int(await self._redis.scard(self._prefix + "conns"))

    async def sweep(self) -> list[int]:
        gone = await self._sweep(args=[self._prefix, time.time()])
        return [int(u) for u in gone]

    async def close(self) -> None:
        await self._redis.aclose()


class RedisSignals(SignalBus):
    """A ``SignalBus`` whose signals reach the listeners of every process on the channel.

    ``publish`` stays synchronous (callers must not wait): signals are queued and sent in order
    by one task. Received signals, our own included, go to the local listeners.
    """

    def __init__(self, url: str, prefix: str = "im:") -> None:
        super().__init__()
        self._redis: Any = redis.from_url(url)
        self._channel = prefix + "signals"
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(10_000)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()

    def publish(self, signal: Signal) -> None:
        try:
            self._outbox.put_nowait(msgspec.json.encode(signal))
        except asyncio.QueueFull:  # ephemeral: dropping a typing hint beats blocking a request
            log.warning("signal outbox full; dropped %s", type(signal).__name__)

    async def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._receive(), name="redis-signals-in"),
            asyncio.create_task(self._send(), name="redis-signals-out"),
        ]
        async with asyncio.timeout(10):
            await self._subscribed.wait()

    async def _send(self) -> None:
        while True:
            data = await self._outbox.get()
            while True:
                try:
                    await self._redis.publish(self._channel, data)
                    break
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    log.warning("redis unreachable; retrying a signal")
                    await asyncio.sleep(0.5)

    async def _receive(self) -> None:
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self._channel)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._deliver(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis signal subscription failed; resubscribing")
                await asyncio.sleep(0.5)

    def _deliver(self, data: bytes) -> None:
        try:
            signal = _signal.decode(data)
        except msgspec.DecodeError:
            return
        try:
            super().publish(signal)
        except Exception:
            log.exception("signal listener failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        await self._redis.aclose()
