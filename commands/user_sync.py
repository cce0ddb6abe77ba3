"""Partner user sync: an idempotent upsert of users by standard_id (create, rename, deactivate)."""

from __future__ import annotations

import asyncio
from typing import Literal

import msgspec

from commands.users import RegisterUser, UpdateUser, UserHandlers
from domain import users as u
from domain.errors import DomainError, ForbiddenError, InvalidError

MAX_USERS = 1000
_CONCURRENCY = 16


class SyncUser(msgspec.Struct, frozen=True):
    """One partner user. ``password`` only matters when the user is created; without one the
    account gets an unusable random password (no password login)."""

    standard_id: str
    name: str
    is_active: bool | None = None
    platform_id: str | None = None
    password: str | None = None


class SyncUsers(msgspec.Struct, frozen=True):
    users: list[SyncUser]


class SyncError(msgspec.Struct):
    index: int
    detail: str


class SyncedUser(msgspec.Struct):
    index: int
    standard_id: str
    id: int
    result: Literal["created", "updated", "unchanged"]


class SyncResult(msgspec.Struct):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[SyncError] = []
    users: list[SyncedUser] = []


def _validate(item: SyncUser) -> None:
    if not u.STANDARD_ID.fullmatch(item.standard_id):
        raise InvalidError("standard_id must be 1-20 characters of letters, digits and _")
    if not 1 <= len(item.name.strip()) <= 100 or len(item.name) > 100:
        raise InvalidError("name must be 1-100 characters")
    if item.platform_id is not None and len(item.platform_id) > 64:
        raise InvalidError("platform_id must be at most 64 characters")
    if item.password is not None and not 6 <= len(item.password) <= 128:
        raise InvalidError("password must be 6-128 characters")


class UserSync:
    """Runs a sync through the ordinary user commands, so it appends only real changes."""

    def __init__(self, users: UserHandlers) -> None:
        self._users = users

    async def sync(self, cmd: SyncUsers) -> tuple[SyncResult, int | None]:
        """The per-user outcome counts and the position of the last event appended (None: none).

        Entries with the same standard_id run in request order; the others run concurrently.
        A bad entry is reported in ``errors`` by its index and does not stop the others.
        """
        if len(cmd.users) > MAX_USERS:
            raise InvalidError(f"at most {MAX_USERS} users per sync")
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(cmd.users):
            groups.setdefault(item.standard_id.lower(), []).append(i)
        done: dict[int, SyncedUser | SyncError] = {}
        positions: list[int] = []
        gate = asyncio.Semaphore(_CONCURRENCY)

        async def run(indices: list[int]) -> None:
            async with gate:
                for i in indices:
                    try:
                        synced, position = await self._one(i, cmd.users[i])
                    except DomainError as exc:
                        done[i] = SyncError(index=i, detail=exc.detail)
                        continue
                    done[i] = synced
                    if position is not None:
                        positions.append(position)

        await asyncio.gather(*(run(indices) for indices in groups.values()))
        result = SyncResult(errors=[], users=[])
        for i in sorted(done):
            outcome = done[i]
            if isinstance(outcome, SyncError):
                result.errors.append(outcome)
                continue
            result.users.append(outcome)
            if outcome.result == "created":
                result.created += 1
            elif outcome.result == "updated":
                result.updated += 1
            else:
                result.unchanged += 1
        return result, max(positions, default=None)

    async def _one(self, index: int, item: SyncUser) -> tuple[SyncedUser, int | None]:
        _validate(item)
        owner, _ = await self._users.owner_of(item.standard_id)
        if owner is None:
            try:
                event, position = await self._users.register_user(
                    RegisterUser(
                        item.standard_id,
                        item.name,
                        item.password or "",
                        is_active=True if item.is_active is None else item.is_active,
                        platform_id=item.platform_id,
                        unusable_password=item.password is None,
                    )
                )
                return SyncedUser(index, item.standard_id, event.user_id, "created"), position
            except InvalidError:
                owner, _ = await self._users.owner_of(item.standard_id)
                if owner is None:
                    raise
                # Someone else created it meanwhile: continue as an update.
        state = await self._users.get(owner)
        changes = item.name != state.name or (
            item.is_active is not None and item.is_active != state.is_active
        )
        if state.is_superuser and changes:
            raise ForbiddenError("superusers are not changed by partner sync")
        updated = await self._users.update_user(
            UpdateUser(owner, name=item.name, is_active=item.is_active)
        )
        result: Literal["updated", "unchanged"] = "unchanged" if updated is None else "updated"
        return SyncedUser(index, state.standard_id, owner, result), updated
