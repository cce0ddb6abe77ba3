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
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """``check`` raises RateLimited (429 with Retry-After) when a bucket is empty."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limit_enabled
        # kind -> (bucket size, seconds to refill it)
        self._limits: dict[str, tuple[int, float]] = {
            "login": (settings.rate_limit_login_per_minute, 60.0),
            "write": (settings.rate_limit_writes_per_minute, 60.0),
            "write-addr": (settings.rate_limit_address_writes_per_minute, 60.0),
            "register": (settings.rate_limit_registrations_per_hour, 3600.0),
            "login-fail": (settings.rate_limit_failed_logins_per_hour, 3600.0),
        }
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _bucket(self, kind: str, key: str, now: float) -> _Bucket | None:
        size, window = self._limits[kind]
        if size <= 0:
            return None
        bucket = self._buckets.get((kind, key))
        if bucket is None:
            if len(self._buckets) >= _MAX_KEYS:
                self._prune(now)
            bucket = self._buckets[(kind, key)] = _Bucket(float(size), now)
        bucket.tokens = min(float(size), bucket.tokens + (now - bucket.stamp) * size / window)
        bucket.stamp = now
        return bucket

    def _retry_after(self, kind: str, bucket: _Bucket) -> int:
        size, window = self._limits[kind]
        return max(1, math.ceil((1.0 - bucket.tokens) * window / size))

    def _take(self, kind: str, key: str) -> None:
        bucket = self._bucket(kind, key, time.monotonic())
        if bucket is None:
            return
        if bucket.tokens < 1.0:
            raise RateLimited(self._retry_after(kind, bucket))
        bucket.tokens -= 1.0

    def _prune(self, now: float) -> None:
        for k, b in list(self._buckets.items()):
            size, window = self._limits[k[0]]
            if b.tokens + (now - b.stamp) * size / window >= size:
                del self._buckets[k]

    def check(self, kind: str, request: Request, user: User | None) -> None:
        if not self.enabled:
            return
        address = request.client.host if request.client else "unknown"
        if kind == "login":
            self._take("login", address)
            return
        if kind == "register" and user is None:  # anonymous sign-ups, per address
            self._take("register", address)
        if user is not None:
            self._take("write", str(user.id))
        self._take("write-addr", address)

    # -- failed logins per account (whatever the address) ---------------------------------------
    def check_account(self, standard_id: str) -> None:
        """429 while this account has used up its failed logins (before any hashing)."""
        if not self.enabled:
            return
        bucket = self._bucket("login-fail", standard_id.lower(), time.monotonic())
        if bucket is not None and bucket.tokens < 1.0:
            raise RateLimited(self._retry_after("login-fail", bucket))

    def login_failed(self, standard_id: str) -> None:
        if not self.enabled:
            return
        bucket = self._bucket("login-fail", standard_id.lower(), time.monotonic())
        if bucket is not None:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
