"""Shared request-schema building blocks with the contract's limits."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

Id = Annotated[int, Meta(ge=1, le=2**53 - 1)]
Skip = Annotated[int, Meta(ge=0, le=2**31)]


def limit(default_max: int) -> object:
    return Annotated[int, Meta(ge=1, le=default_max)]


Limit200 = Annotated[int, Meta(ge=1, le=200)]
Limit50 = Annotated[int, Meta(ge=1, le=50)]
