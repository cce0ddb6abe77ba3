"""The event base class and the registry every event type joins by subclassing."""

from __future__ import annotations

from typing import ClassVar

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    """A domain event. The msgspec tag is the stable event type name stored in the event store.

    Subclasses set ``tag="TypeName"`` explicitly; never rename a tag, add a new event instead.
    ``schema_version`` is bumped when a type changes shape; upcasters in the codec lift old data.
    """

    schema_version: ClassVar[int] = 1

    @classmethod
    def type_name(cls) -> str:
        tag = cls.__struct_config__.tag
        assert isinstance(tag, str)
        return tag


_registry: dict[str, type[Event]] = {}


def event_class(type_name: str) -> type[Event] | None:
    """The class registered for a stored event type (any imported Event subclass)."""
    cls = _registry.get(type_name)
    if cls is None:
        _refresh()
        cls = _registry.get(type_name)
    return cls


def all_event_classes() -> list[type[Event]]:
    _refresh()
    return list(_registry.values())


def _refresh() -> None:
    stack: list[type[Event]] = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        tag = cls.__struct_config__.tag
        if not isinstance(tag, str):
            continue
        existing = _registry.get(tag)
        if existing is not None and existing is not cls:
            raise TypeError(f"event tag {tag!r} is used by {existing.__qualname__} already")
        _registry[tag] = cls
