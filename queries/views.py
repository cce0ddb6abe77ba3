"""Shared view helpers: time formatting and the User view."""

from __future__ import annotations

import math
import time

import msgspec

from domain.users import User as UserState
from projections.schema import UserDoc

_seconds: dict[int, str] = {}  # whole second -> "YYYY-MM-DDTHH:MM:SS." (views format thousands)


def iso(ts: float | None) -> str | None:
    """Epoch seconds to ISO 8601 UTC with milliseconds and a Z suffix.

    Same result as ``datetime.fromtimestamp(ts, UTC)`` (microseconds rounded half to even, then
    truncated to milliseconds), with the date-time part cached per second: list views format
    thousands of timestamps per request.
    """
    if ts is None:
        return None
    frac, whole = math.modf(ts)
    second, micros = int(whole), round(frac * 1e6)
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    elif micros < 0:
        second, micros = second - 1, micros + 1_000_000
    prefix = _seconds.get(second)
    if prefix is None:
        if len(_seconds) >= 65536:
            _seconds.clear()
        prefix = _seconds[second] = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second))
    return f"{prefix}{micros // 1000:03d}Z"


class User(msgspec.Struct):
    id: int
    standard_id: str
    name: str
    is_active: bool
    is_superuser: bool
    created_at: str
    is_auditor: bool = False


def user_view(doc: UserDoc) -> User:
    return User(
        id=doc.id,
        standard_id=doc.standard_id,
        name=doc.name,
        is_active=doc.is_active,
        is_superuser=doc.is_superuser,
        created_at=iso(doc.created_at) or "",
        is_auditor=doc.is_auditor,
    )


def state_view(state: UserState) -> User:
    """The User view from the command side's state, for a user the read models may not hold yet."""
    return User(
        id=state.user_id,
        standard_id=state.standard_id,
        name=state.name,
        is_active=state.is_active,
        is_superuser=state.is_superuser,
        created_at=iso(state.registered_at) or "",
        is_auditor=state.is_auditor,
    )
