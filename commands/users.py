"""User commands: register, authenticate, update, grant superuser."""

from __future__ import annotations

import time

import msgspec

from commands.core import IdAllocator, append, load, with_retry
from commands.passwords import Passwords, unusable_password_hash
from domain import users as u
from domain.errors import InvalidError
from domain.events import Event
from domain.store import NO_STREAM, EventStore


class RegisterUser(msgspec.Struct, frozen=True):
    standard_id: str
    name: str
    password: str
    is_superuser: bool = False
    is_active: bool = True
    platform_id: str | None = None
    # Partner-synced accounts: no password login until one is set (``password`` is ignored).
    unusable_password: bool = False


class UpdateUser(msgspec.Struct, frozen=True):
    user_id: int
    name: str | None = None
    is_active: bool | None = None


class SetSuperuser(msgspec.Struct, frozen=True):
    user_id: int
    is_superuser: bool = True


class SetAuditor(msgspec.Struct, frozen=True):
    """Grant or revoke the auditor role; ``operator_id`` None: from the command line."""

    user_id: int
    is_auditor: bool
    operator_id: int | None


class UserHandlers:
    """Handlers for user commands; each returns the event-store position of its last event."""

    def __init__(self, store: EventStore, ids: IdAllocator, passwords: Passwords) -> None:
        self._store = store
        self._ids = ids
        self._passwords = passwords

    async def owner_of(self, standard_id: str) -> tuple[int | None, int]:
        """The user owning ``standard_id`` (None if free or orphaned), and the claim's version."""
        owner, version, _ = await self._claim_of(standard_id)
        return owner, version

    async def _claim_of(self, standard_id: str) -> tuple[int | None, int, bool]:
        """Also whether a claim without its user yet is recent: a registration in flight
        (in this or another process), which must not be taken over as an orphan."""
        last = await self._store.last(u.standard_id_stream(standard_id))
        if last is None:
            return None, NO_STREAM, False
        claim = last.decode()
        assert isinstance(claim, u.StandardIdClaimed)
        user, _ = await load(self._store, u.user_stream(claim.user_id), u.evolve, u.User())
        if user.exists:
            return claim.user_id, last.version, False
        in_flight = time.time() - last.recorded_at < _ORPHAN_AFTER_S
        return None, last.version, in_flight

    async def register_user(self, cmd: RegisterUser) -> tuple[u.UserRegistered, int]:
        """Returns (the registration event, position). A duplicate standard_id is InvalidError."""
        if cmd.unusable_password:
            u.validate_new_user(cmd.standard_id, cmd.name, "unused")
            password_hash = unusable_password_hash()
        else:
            u.validate_new_user(cmd.standard_id, cmd.name, cmd.password)
            password_hash = await self._passwords.hash(cmd.password)
        user_id = await self._ids.next("user")

        async def claim() -> None:
            owner, version, in_flight = await self._claim_of(cmd.standard_id)
            if owner is not None or in_flight:
                raise InvalidError("A user with this standard_id already exists")
            claimed = u.StandardIdClaimed(standard_id=cmd.standard_id, user_id=user_id)
            await append(self._store, u.standard_id_stream(cmd.standard_id), [claimed], version)

        await with_retry(claim)
        event = u.UserRegistered(
            user_id=user_id,
            standard_id=cmd.standard_id,
            name=cmd.name,
            password_hash=password_hash,
            is_superuser=cmd.is_superuser,
            is_active=cmd.is_active,
            at=time.time(),
            platform_id=cmd.platform_id,
        )
        position = await append(self._store, u.user_stream(user_id), [event], NO_STREAM)
        return event, position

    async def authenticate(self, standard_id: str, password: str) -> u.User | None:
        """The active user with these credentials, or None. Always spends one hash's time."""
        owner, _ = (
            await self.owner_of(standard_id)
            if u.STANDARD_ID.fullmatch(standard_id)
            else (
                None,
                NO_STREAM,
            )
        )
        user = u.User()
        if owner is not None:
            user, _ = await load(self._store, u.user_stream(owner), u.evolve, u.User())
        ok = await self._passwords.check(user.password_hash or None, password)
        return user if ok and user.exists and user.is_active else None

    async def get(self, user_id: int) -> u.User:
        user, _ = await load(self._store, u.user_stream(user_id), u.evolve, u.User())
        return user

    async def update_user(self, cmd: UpdateUser) -> int | None:
        """Apply profile changes; returns the position, or None when nothing changed."""

        async def attempt() -> int | None:
            stream = u.user_stream(cmd.user_id)
            state, version = await load(self._store, stream, u.evolve, u.User())
            events: list[Event] = u.decide_update(
                state, name=cmd.name, is_active=cmd.is_active, at=time.time()
            )
            if not events:
                return None
            return await append(self._store, stream, events, version)

        return await with_retry(attempt)

    async def set_superuser(self, cmd: SetSuperuser) -> int | None:
        """The position, or None when the user already is (or is not) a superuser."""

        async def attempt() -> int | None:
            stream = u.user_stream(cmd.user_id)
            state, version = await load(self._store, stream, u.evolve, u.User())
            u.require(state)
            if state.is_superuser == cmd.is_superuser:
                return None
            event = u.UserSuperuserChanged(
                user_id=cmd.user_id, is_superuser=cmd.is_superuser, at=time.time()
            )
            return await append(self._store, stream, [event], version)

        return await with_retry(attempt)

    async def set_auditor(self, cmd: SetAuditor) -> int | None:
        """Grant or revoke the auditor role; None when the user already is (or is not) one."""

        async def attempt() -> int | None:
            stream = u.user_stream(cmd.user_id)
            state, version = await load(self._store, stream, u.evolve, u.User())
            u.require(state)
            if state.is_auditor == cmd.is_auditor:
                return None
            event = u.UserAuditorChanged(
                user_id=cmd.user_id,
                is_auditor=cmd.is_auditor,
                operator_id=cmd.operator_id,
                at=time.time(),
            )
            return await append(self._store, stream, [event], version)

        return await with_retry(attempt)


_ORPHAN_AFTER_S = 30.0  # a claim whose user is still missing after this was left by a crash
