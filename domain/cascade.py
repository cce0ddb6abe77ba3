"""The cascade's published language: which events partners see, under which names and shapes.

The relay publishes every stored event through ``MAPPING`` (the one declaration of what is public)
and a ``Formatter`` (how a published event becomes an AMQP message). A partner-specific format is
another ``Formatter`` registered in ``FORMATTERS``; the relay itself never changes for it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import msgspec

from domain import legacy_cascade as _legacy  # noqa: F401  (registers its events)
from domain.codec import UnknownEventError, parse_metadata
from domain.events import Event
from domain.store import RecordedEvent
from domain.tracing import Actor

CONTENT_TYPE = "application/json"
ROUTING_KEY_FORMAT = "<category>.<event_type>.<aggregate_id>"


class Rule(msgspec.Struct, frozen=True):
    """How one event type is published: its public name, the routing key's category and
    aggregate (by default both from the stream, ``<category>-<aggregate id>``; ``aggregate``
    names a data field to take the id from instead), and fields withheld from partners."""

    name: str
    category: str = ""
    aggregate: str = ""
    redact: frozenset[str] = frozenset()


# Withheld from every event, declared or not: a new event with a secret in it must not leak.
_SENSITIVE = frozenset({"password", "secret", "token", "access_token", "api_key", "invite_code"})


def is_sensitive(field: str) -> bool:
    return field in _SENSITIVE or field.endswith("_hash") or field.startswith("password")


class CascadeMapping:
    """Declared rules per event type; ``internal`` types are never published.

    A type with no rule is published under its own name with its data minus sensitive fields,
    so every domain event reaches partners even before someone declares it here.
    """

    def __init__(self, rules: Iterable[tuple[str, Rule]], internal: Iterable[str]) -> None:
        self.rules = dict(rules)
        self.internal = frozenset(internal)
        self._cache: dict[str, Rule | None] = {}

    def rule_for(self, event_type: str) -> Rule | None:
        try:
            return self._cache[event_type]
        except KeyError:
            pass
        rule = None if event_type in self.internal else self.rules.get(event_type)
        if rule is None and event_type not in self.internal:
            rule = Rule(event_type)
        self._cache[event_type] = rule
        return rule

    def routing_patterns(self) -> list[str]:
        """Binding patterns for every declared published type (``category.event_type.*``)."""
        return sorted(
            f"{r.category}.{snake_case(r.name)}.*" for r in self.rules.values() if r.category
        )


def _rule(
    name: str, category: str, aggregate: str = "", redact: Iterable[str] = ()
) -> tuple[str, Rule]:
    return name, Rule(name, category, aggregate, frozenset(redact))


def _conversation(name: str, redact: Iterable[str] = ()) -> tuple[str, Rule]:
    """Events of a conversation, whichever of its streams they live in (messages-, message-,
    reads-): routed as ``conversation.<event>.<conversation_id>``."""
    return _rule(name, "conversation", "conversation_id", redact)


MAPPING = CascadeMapping(
    rules=[
        _rule("UserRegistered", "user", redact={"password_hash"}),
        _rule("UserRenamed", "user"),
        _rule("UserActivationChanged", "user"),
        _rule("UserPasswordChanged", "user", redact={"password_hash"}),
        _rule("UserSuperuserChanged", "user"),
        _conversation("ConversationCreated"),
        _conversation("ConversationUpdated"),
        _conversation("ConversationDissolved"),
        _conversation("ConversationHidden"),
        _conversation("ConversationUnhidden"),
        _conversation("HistoryCleared"),
        _conversation("MemberAdded"),
        _conversation("MemberRemoved"),
        _conversation("MemberRoleChanged"),
        _conversation("MemberUpdated"),
        _conversation("InviteCodeCreated", redact={"code"}),  # a capability to join
        _conversation("InviteCodeRevoked", redact={"code"}),
        _conversation("MessageSent"),
        _conversation("MessageEdited"),
        _conversation("MessageRecalled"),
        _conversation("ReadMarked"),
        _rule("FileUploaded", "file"),
        _rule("FileDeleted", "file"),
        _rule("BroadcastSent", "broadcast"),
        _rule("WaterMarkUpdated", "watermark", "id"),
        _rule("PlatformMqUpdated", "platform", "platform_id"),
    ],
    # Bookkeeping of the command side: id blocks, uniqueness claims, download-counter flushes.
    internal={
        "IdBlockReserved",
        "StandardIdClaimed",
        "PairClaimed",
        "NotificationTemplateNameClaimed",
        "FileDownloadsCounted",
        "IdempotencyClaimed",
        "IdempotentResponse",
        "IdempotencyReleased",
    },
)


class OutgoingMessage(msgspec.Struct, frozen=True):
    """One AMQP message ready to publish: properties, routing key and body."""

    message_id: str
    type: str
    routing_key: str
    body: bytes
    timestamp: float
    position: int
    content_type: str = CONTENT_TYPE
    headers: dict[str, str | int] = {}
    exchange: str = ""  # empty: the publisher's own exchange


class Formatter(Protocol):
    """Turns one published event into a message. Pure: the same event gives the same bytes."""

    name: str
    version: int

    def format(self, rec: RecordedEvent, event: Event, rule: Rule) -> OutgoingMessage: ...


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def iso_utc(ts: float) -> str:
    d = dt.datetime.fromtimestamp(ts, dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}Z"


def occurred_at(rec: RecordedEvent, event: Event) -> float:
    """The event's own time (``at``) when it has one, else when the store recorded it."""
    at = getattr(event, "at", None)
    return float(at) if isinstance(at, (int, float)) and at > 0 else rec.recorded_at


def routing_key(rec: RecordedEvent, rule: Rule, data: dict[str, Any]) -> str:
    """``<category>.<event_type>.<aggregate_id>``; dots inside the id become ``_``."""
    category, _, aggregate = rec.stream.partition("-")
    if rule.aggregate and data.get(rule.aggregate) is not None:
        aggregate = str(data[rule.aggregate])
    aggregate = aggregate.replace(".", "_") or "_"
    return f"{rule.category or category}.{snake_case(rule.name)}.{aggregate}"


_withheld: dict[tuple[type[Event], Rule], frozenset[str]] = {}


def public_data(event: Event, rule: Rule) -> dict[str, Any]:
    """The event's fields as JSON-ready values, without the type tag and withheld fields."""
    key = (type(event), rule)
    hidden = _withheld.get(key)
    if hidden is None:
        fields = type(event).__struct_fields__
        hidden = _withheld[key] = frozenset(
            {"type", *rule.redact, *(f for f in fields if is_sensitive(f))}
        )
    raw: dict[str, Any] = msgspec.to_builtins(event)
    return {k: v for k, v in raw.items() if k not in hidden}


class Envelope(msgspec.Struct, omit_defaults=True):
    """The default message body. ``version`` is the envelope format version."""

    id: str
    type: str
    version: int
    stream: str
    stream_version: int
    position: int
    occurred_at: str
    data: dict[str, Any]
    actor: Actor | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


class EnvelopeFormatter:
    """``{id, type, version, stream, stream_version, position, occurred_at, data, actor,
    correlation_id, causation_id}`` as JSON."""

    name = "envelope"
    version = 1

    def __init__(self) -> None:
        self._encoder = msgspec.json.Encoder()

    def format(self, rec: RecordedEvent, event: Event, rule: Rule) -> OutgoingMessage:
        at = occurred_at(rec, event)
        data = public_data(event, rule)
        meta = parse_metadata(rec.metadata)
        body = Envelope(
            id=rec.id,
            type=rule.name,
            version=self.version,
            stream=rec.stream,
            stream_version=rec.version,
            position=rec.position,
            occurred_at=iso_utc(at),
            data=data,
            actor=meta.actor,
            correlation_id=meta.correlation_id,
            causation_id=meta.causation_id,
        )
        return OutgoingMessage(
            message_id=rec.id,
            type=rule.name,
            routing_key=routing_key(rec, rule, data),
            body=self._encoder.encode(body),
            timestamp=at,
            position=rec.position,
        )


FORMATTERS: dict[str, Callable[[], Formatter]] = {"envelope": EnvelopeFormatter}


def formatter(name: str) -> Formatter:
    factory = FORMATTERS.get(name)
    if factory is None:
        raise KeyError(f"unknown cascade format {name!r}; valid: {', '.join(sorted(FORMATTERS))}")
    return factory()


def messages_for(
    batch: Sequence[RecordedEvent], mapping: CascadeMapping, fmt: Formatter
) -> tuple[list[OutgoingMessage], list[RecordedEvent]]:
    """The messages for a batch in position order, and the events that could not be decoded."""
    out: list[OutgoingMessage] = []
    undecodable: list[RecordedEvent] = []
    for rec in batch:
        rule = mapping.rule_for(rec.type)
        if rule is None:
            continue
        try:
            event = rec.decode()
        except UnknownEventError:
            undecodable.append(rec)
            continue
        out.append(fmt.format(rec, event, rule))
    return out, undecodable
