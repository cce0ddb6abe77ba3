"""In-process token buckets: login per client address; writes per user and per address."""

from __future__ import annotations

import math
import time

from starlette.requests import Request

from gateway.http import RateLimited
from gateway.settings import Settings
from queries.views import User

_MAX_KEYS = 100_000


class _Bucket:
    __slots__ = ("tokens", "stamp")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """``check`` raises RateLimited (429 with Retry-After) when a bucket is empty."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        self._limits = {
            "login": settings.rate_limit_login_per_minute,
            "write": settings.rate_limit_writes_per_minute,
            "write-addr": settings.rate_limit_address_writes_per_minute,
        }
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _take(self, kind: str, key: str) -> None:
        per_minute = self._limits[kind]
        if per_minute <= 0:
            return
        rate = per_minute / 60.0
        now = time.monotonic()
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            if len(self._buckets) >= _MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[(kind, key)] = _Bucket(float(per_minute), now)
        bucket.tokens = min(float(per_minute), bucket.tokens + (now - bucket.stamp) * rate)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            raise RateLimited(max(1, math.ceil((1.0 - bucket.tokens) / rate)))
        bucket.tokens -= 1.0

    def _prune(self, now: float) -> None:
        for k, b in list(self._buckets.items()):
            rate = self._limits[k[0]] / 60.0
            if b.tokens + (now - b.stamp) * rate >= self._limits[k[0]]:
                del self._buckets[k]

    def check(self, kind: str, request: Request, user: User | None) -> None:
        if not self.enabled:
            return
        address = request.client.host if request.client else "unknown"
        if kind == "login":
            self._take("login", address)
            return
        if user is not None:
            self._take("write", str(user.id))
        self._take("write-addr", address)
