"""JWT issue and verification (HS256, ``sub`` = user id) and the current-user lookup."""

from __future__ import annotations

import time
from collections.abc import Sequence

import jwt
from starlette.requests import HTTPConnection

from commands.users import UserHandlers
from domain import tracing
from domain.errors import UnauthorizedError
from domain.ids import canonical_id
from domain.store import RecordedEvent
from projections.store import ReadStore
from queries.users import find_user
from queries.views import User, state_view


def unauthorized(detail: str) -> UnauthorizedError:
    return UnauthorizedError(detail)


def issue_token(user_id: int, secret: str, minutes: int) -> str:
    """A HS256 JWT with ``sub``, ``iat`` and ``exp`` only. Keep the claims to digits and these
    names: then the payload segment can never contain the base64url characters ``-`` or ``_``
    (no byte of it ends in the bits 11111x), and the previous system's web client, which reads
    ``exp`` with ``atob`` on reload, keeps its session (tested)."""
    now = int(time.time())
    claims = {"sub": str(user_id), "iat": now, "exp": now + minutes * 60}
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_claims(token: str, secret: str) -> tuple[int, int]:
    """(user id, expiry) of a valid token; UnauthorizedError for a bad, expired or foreign one."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["sub", "exp"]}
        )
        sub, exp = claims["sub"], claims["exp"]
        user_id = canonical_id(sub) if isinstance(sub, str) else None
        if user_id is None or not isinstance(exp, int) or isinstance(exp, bool):
            raise UnauthorizedError("Could not validate credentials")
        return user_id, exp
    except jwt.ExpiredSignatureError:
        raise UnauthorizedError("Token expired") from None
    except (jwt.PyJWTError, UnicodeError, ValueError):
        raise UnauthorizedError("Could not validate credentials") from None


class IdentityCache:
    """Verified tokens and active users, so an authenticated read costs no JWT work or I/O.

    With the projector in this process, a user's entry is dropped the moment an event on its
    stream is projected; otherwise entries live ``ttl`` seconds.
    """

    def __init__(self, inline: bool, ttl: float = 2.0, size: int = 50_000) -> None:
        self._tokens: dict[str, tuple[int, int]] = {}  # token -> (user id, exp)
        self._users: dict[int, tuple[User, float]] = {}
        self._ttl = float("inf") if inline else ttl
        self._size = size

    def user_id(self, token: str, secret: str) -> int:
        hit = self._tokens.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        claims = decode_claims(token, secret)
        if len(self._tokens) >= self._size:
            self._tokens.clear()
        self._tokens[token] = (claims[0], claims[1])
        return claims[0]

    def user(self, user_id: int) -> User | None:
        hit = self._users.get(user_id)
        if hit is None or time.monotonic() - hit[1] > self._ttl:
            return None
        return hit[0]

    def remember(self, user: User) -> None:
        if len(self._users) >= self._size:
            self._users.clear()
        self._users[user.id] = (user, time.monotonic())

    def on_events(self, batch: Sequence[RecordedEvent]) -> None:
        for rec in batch:
            if rec.stream.startswith("user-"):
                self._users.pop(int(rec.stream[5:]), None)


class Authenticator:
    """The current user of a request: a verified bearer token and an active user."""

    def __init__(
        self, identity: IdentityCache, secret: str, read: ReadStore, users: UserHandlers
    ) -> None:
        self.identity = identity
        self._secret = secret
        self._read = read
        self._users = users

    async def user_for_token(self, token: str) -> User:
        """The token's user, who becomes the actor of whatever this request appends."""
        user = await self._user_for_token(token)
        tracing.set_actor(tracing.Actor("user", user.id))
        return user

    async def _user_for_token(self, token: str) -> User:
        cache = self.identity
        user_id = cache.user_id(token, self._secret)
        user = cache.user(user_id)
        if user is not None:
            return user
        user = await find_user(self._read, user_id)
        if user is None:
            # Registered but not projected yet (a split deployment's projector is behind): the
            # event store is the authority, so a user can write right after signing up.
            state = await self._users.get(user_id)
            if not state.exists or not state.is_active:
                raise UnauthorizedError("Could not validate credentials")
            return state_view(state)
        if not user.is_active:
            raise UnauthorizedError("Could not validate credentials")
        cache.remember(user)
        return user

    async def user_from_header(self, conn: HTTPConnection) -> User | None:
        header = conn.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("Could not validate credentials")
        user = await self.user_for_token(token.strip())
        conn.scope.setdefault("state", {})["user_id"] = user.id  # for the access log
        return user
