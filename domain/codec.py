"""The one event codec: events to JSON bytes and back, with upcasting of old schema versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from domain import (
    audit_events,
    broadcasts,
    conversations,
    files,
    idempotency,
    ids,
    legacy_cascade,
    notification_templates,
    notifications,
    reports,
    users,
)
from domain.events import Event, event_classes
from domain.tracing import SYSTEM, Actor, Trace

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

DomainEvent = (
    users.UserEvent
    | users.StandardIdEvent
    | ids.IdEvent
    | idempotency.IdempotencyEvent
    | conversations.ConversationEvent
    | conversations.MessageEvent
    | conversations.PairEvent
    | files.FileEvent
    | notifications.NotificationEvent
    | notifications.PreferencesEvent
    | notification_templates.TemplateEvent
    | notification_templates.TemplateNameEvent
    | broadcasts.BroadcastEvent
    | reports.ReportEvent
    | legacy_cascade.CenterEvent
    | audit_events.AuditLogEvent
)
"""Every event the store may hold: the union of the aggregates' unions."""

_encoder = msgspec.json.Encoder()
_raw_decoder = msgspec.json.Decoder(dict[str, Any])
_decoders: dict[type[Event], msgspec.json.Decoder[Any]] = {}
# (type name, from version) -> function lifting the data dict to from version + 1
_upcasters: dict[tuple[str, int], Upcaster] = {}


class UnknownEventError(Exception):
    """The stored event type has no registered class."""


_registry: dict[str, type[Event]] = {}


def register(union: Any) -> None:
    """Make the codec know a union's event classes (the domain's are known from the start;
    tests add their own synthetic events). A tag may name only one class."""
    for cls in event_classes(union):
        existing = _registry.setdefault(cls.type_name(), cls)
        if existing is not cls:
            raise TypeError(f"event tag {cls.type_name()!r} is used by {existing.__qualname__}")


register(DomainEvent)


def knows(type_name: str) -> bool:
    """Whether ``type_name`` has a registered event class."""
    return type_name in _registry


def register_upcaster(type_name: str, from_version: int, fn: Upcaster) -> None:
    """Register a function that lifts ``type_name`` data from ``from_version`` by one."""
    _upcasters[(type_name, from_version)] = fn


def encode(event: Event) -> tuple[str, bytes]:
    """Return (event type, JSON data). The tag field itself is not stored in the data."""
    data = _encoder.encode(event)
    return event.type_name(), data


class _Written(msgspec.Struct):
    """Metadata as appended. The ``$``-keys are KurrentDB's own, so that its
    ``$by_correlation_id`` projection works on our events; the store then seals each event
    with ``prev_hash`` and ``hash`` (``domain.chain``)."""

    schema_version: int
    actor: Actor
    correlation_id: str = msgspec.field(name="$correlationId")
    causation_id: str | None = msgspec.field(name="$causationId")


class EventMetadata(msgspec.Struct):
    """Metadata as stored; every field is optional (old events carry only ``schema_version``)."""

    schema_version: int | None = None
    actor: Actor | None = None
    correlation_id: str | None = msgspec.field(default=None, name="$correlationId")
    causation_id: str | None = msgspec.field(default=None, name="$causationId")
    prev_hash: str | None = None
    hash: str | None = None


class _Version(msgspec.Struct):
    schema_version: int | None = None


_meta_decoder = msgspec.json.Decoder(EventMetadata)
_version_decoder = msgspec.json.Decoder(_Version)


def metadata_for(event: Event, event_id: str, trace: Trace | None) -> bytes:
    """Who appends ``event`` and why: the trace's actor and ids (a root event correlates to
    itself, as KurrentDB does); no trace means the system acting on its own."""
    if trace is None:
        written = _Written(type(event).schema_version, SYSTEM, event_id, None)
    else:
        written = _Written(
            type(event).schema_version,
            trace.actor or SYSTEM,
            trace.correlation_id,
            trace.causation_id,
        )
    return _encoder.encode(written)


def parse_metadata(metadata: bytes) -> EventMetadata:
    if not metadata:
        return EventMetadata()
    return _meta_decoder.decode(metadata)


def _decoder_for(cls: type[Event]) -> msgspec.json.Decoder[Any]:
    dec = _decoders.get(cls)
    if dec is None:
        dec = _decoders[cls] = msgspec.json.Decoder(cls)
    return dec


def decode(type_name: str, data: bytes, schema_version: int | None = None) -> Event:
    """Decode stored data into its event class, upcasting when the stored version is older."""
    cls = _registry.get(type_name)
    if cls is None:
        raise UnknownEventError(f"no event class for type {type_name!r}")
    version = schema_version or cls.schema_version
    if version >= cls.schema_version:
        event: Event = _decoder_for(cls).decode(data)
        return event
    raw = _raw_decoder.decode(data)
    while version < cls.schema_version:
        raw = _upcasters[(type_name, version)](raw)
        version += 1
    raw["type"] = type_name
    result: Event = msgspec.convert(raw, cls)
    return result


def decode_recorded(type_name: str, data: bytes, metadata: bytes) -> Event:
    """Decode a stored event, reading the schema version from its metadata only when the class
    has had older versions (at version 1 the stored version cannot make a difference)."""
    cls = _registry.get(type_name)
    if cls is not None and cls.schema_version <= 1:
        event: Event = _decoder_for(cls).decode(data)
        return event
    return decode(type_name, data, schema_version_of(metadata))


def schema_version_of(metadata: bytes | None) -> int | None:
    if not metadata:
        return None
    return _version_decoder.decode(metadata).schema_version
