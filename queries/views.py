"""Shared view helpers: time formatting and the User view."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec


def iso(ts: float | None) -> str | None:
    """Epoch seconds to ISO 8601 UTC with milliseconds and a Z suffix."""
    if ts is None:
        return None
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


class User(msgspec.Struct):
    id: int
    standard_id: str
    name: str
    is_active: bool
    is_superuser: bool
    created_at: str


def user_view(doc: dict[str, Any]) -> User:
    return User(
        id=doc["id"],
        standard_id=doc["standard_id"],
        name=doc["name"],
        is_active=doc["is_active"],
        is_superuser=doc["is_superuser"],
        created_at=iso(doc["created_at"]) or "",
    )
