"""The User aggregate: registration, profile, activation, password, superuser flag."""

from __future__ import annotations

import re
from typing import assert_never

import msgspec

from domain.errors import InvalidError, NotFoundError
from domain.events import Event

STANDARD_ID = re.compile(r"^[A-Za-z0-9_]{1,20}$")


class UserRegistered(Event, frozen=True, tag="UserRegistered"):
    user_id: int
    standard_id: str
    name: str
    password_hash: str
    is_superuser: bool = False
    is_active: bool = True
    at: float = 0.0
    platform_id: str | None = None


class UserRenamed(Event, frozen=True, tag="UserRenamed"):
    user_id: int
    name: str
    at: float = 0.0
    standard_id: str = ""  # carried so read models can re-index without a lookup


class UserActivationChanged(Event, frozen=True, tag="UserActivationChanged"):
    user_id: int
    is_active: bool
    at: float = 0.0


class UserPasswordChanged(Event, frozen=True, tag="UserPasswordChanged"):
    user_id: int
    password_hash: str
    at: float = 0.0


class UserSuperuserChanged(Event, frozen=True, tag="UserSuperuserChanged"):
    user_id: int
    is_superuser: bool
    at: float = 0.0


class UserAuditorChanged(Event, frozen=True, tag="UserAuditorChanged"):
    """A superuser granted (or revoked) the right to read the event log through ``/audit``."""

    user_id: int
    is_auditor: bool
    operator_id: int | None = None
    at: float = 0.0


class StandardIdClaimed(Event, frozen=True, tag="StandardIdClaimed"):
    """The first event of ``standardid-<lowercased id>``: whoever appends it owns the id."""

    standard_id: str
    user_id: int


UserEvent = (
    UserRegistered
    | UserRenamed
    | UserActivationChanged
    | UserPasswordChanged
    | UserSuperuserChanged
    | UserAuditorChanged
)
StandardIdEvent = StandardIdClaimed


class User(msgspec.Struct):
    """The command side's view of a user: just what decisions need."""

    user_id: int = 0
    standard_id: str = ""
    name: str = ""
    password_hash: str = ""
    is_active: bool = False
    is_superuser: bool = False
    registered_at: float = 0.0
    is_auditor: bool = False

    @property
    def exists(self) -> bool:
        return self.user_id != 0


def user_stream(user_id: int) -> str:
    return f"user-{user_id}"


def standard_id_stream(standard_id: str) -> str:
    return f"standardid-{standard_id.lower()}"


def evolve(state: User, event: Event) -> User:
    if not isinstance(event, UserEvent):
        return state
    match event:
        case UserRegistered():
            return User(
                user_id=event.user_id,
                standard_id=event.standard_id,
                name=event.name,
                password_hash=event.password_hash,
                is_active=event.is_active,
                is_superuser=event.is_superuser,
                registered_at=event.at,
            )
        case UserRenamed():
            return msgspec.structs.replace(state, name=event.name)
        case UserActivationChanged():
            return msgspec.structs.replace(state, is_active=event.is_active)
        case UserPasswordChanged():
            return msgspec.structs.replace(state, password_hash=event.password_hash)
        case UserSuperuserChanged():
            return msgspec.structs.replace(state, is_superuser=event.is_superuser)
        case UserAuditorChanged():
            return msgspec.structs.replace(state, is_auditor=event.is_auditor)
        case _:
            assert_never(event)


def validate_new_user(standard_id: str, name: str, password: str) -> None:
    if not STANDARD_ID.fullmatch(standard_id):
        raise InvalidError("standard_id must be 1-20 characters of letters, digits and _")
    if not 1 <= len(name.strip()) <= 100 or len(name) > 100:
        raise InvalidError("name must be 1-100 characters")
    if not 6 <= len(password) <= 128:
        raise InvalidError("password must be 6-128 characters")


def require(state: User) -> User:
    if not state.exists:
        raise NotFoundError("User not found")
    return state


def decide_update(
    state: User, *, name: str | None, is_active: bool | None, at: float
) -> list[Event]:
    """Events that bring ``state`` to the given profile; none when nothing changes."""
    require(state)
    out: list[Event] = []
    if name is not None and name != state.name:
        if not 1 <= len(name.strip()) <= 100 or len(name) > 100:
            raise InvalidError("name must be 1-100 characters")
        out.append(
            UserRenamed(user_id=state.user_id, name=name, at=at, standard_id=state.standard_id)
        )
    if is_active is not None and is_active != state.is_active:
        out.append(UserActivationChanged(user_id=state.user_id, is_active=is_active, at=at))
    return out
