"""The event base class, and the helpers that read a union of event classes."""

from __future__ import annotations

import typing
from typing import Any, ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A domain event. The msgspec tag is the stable event type name stored in the event store.

    Subclasses set ``tag="TypeName"`` explicitly; never rename a tag, add a new event instead.
    Each aggregate's module declares the union of its events (``UserEvent``, ...); the codec
    knows exactly the classes of those unions (``domain.codec.DomainEvent``).
    ``schema_version`` is bumped when a type changes shape; upcasters in the codec lift old data.
    """

    schema_version: ClassVar[int] = 1

    @classmethod
    def type_name(cls) -> str:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag


def event_classes(union: Any) -> tuple[type[Event], ...]:
    """The classes of a union of event classes (or of a single class), in declaration order."""
    members = typing.get_args(union) or (union,)
    for cls in members:
        if not (isinstance(cls, type) and issubclass(cls, Event)):
            raise TypeError(f"{cls!r} is not an event class")
    return members


def type_names(union: Any) -> frozenset[str]:
    """The stored type names of a union's events (to skip other records without decoding)."""
    return frozenset(cls.type_name() for cls in event_classes(union))
