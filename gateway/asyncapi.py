"""AsyncAPI 3.0 for everything that is not request/response: the WebSocket and the cascade.

Generated from the msgspec types the server encodes with (the query views pushed in frames, the
frame data below, the domain events inside the cascade envelope, the partner sync bodies), so
the document follows the code. ``tests/e2e/test_asyncapi.py`` validates the document against the
AsyncAPI 3.0 JSON Schema and real frames and published messages against their schemas.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec

from commands.user_sync import SyncResult, SyncUsers
from domain.cascade import (
    CONTENT_TYPE,
    MAPPING,
    ROUTING_KEY_FORMAT,
    Envelope,
    formatter,
    is_sensitive,
    snake_case,
)
from domain.codec import DomainEvent
from domain.conversations import Role
from domain.events import Event, event_classes
from gateway.settings import Settings
from queries.conversations import Conversation
from queries.messages import Message
from queries.notifications import Notification

_REF = "#/components/schemas/{name}"

# ---- frame data that is not a query view (the pusher builds these as plain dicts) ----------
# Closed (additionalProperties: false), so the test of real frames fails when a frame gains a
# field that is not described here.


class Frame(msgspec.Struct, forbid_unknown_fields=True):
    """Frame data."""


class ConnectionEstablished(Frame):
    """The first frame on every connection: where its live stream starts."""

    user_id: int
    connection_id: str
    position: int
    resumed_from: int | None


class Empty(Frame):
    """No data (``pong``)."""


class FrameError(Frame):
    """The answer to a client frame the server does not understand."""

    detail: str


class PushedMessage(Message, kw_only=True, forbid_unknown_fields=True):
    """A ``Message`` view plus the web client's aliases ``message_id`` (= id) and ``timestamp``
    (= created_at)."""

    message_id: int
    timestamp: str


class ReadMark(Frame):
    """``user_id`` read up to ``seq``; ``message_ids``: the messages from others it newly read
    (the newest 100 at most)."""

    conversation_id: int
    user_id: int
    seq: int
    message_ids: list[int]


class CreatedConversation(Conversation, kw_only=True, forbid_unknown_fields=True):
    """A ``Conversation`` view plus the names and ids the web client shows when it appears."""

    conversation_id: int
    conversation_type: str
    conversation_name: str
    creator_name: str | None
    participant_ids: list[int]


class MembersAdded(Frame):
    conversation_id: int
    added_user_ids: list[int]
    operator_id: int


class MemberLeft(Frame):
    conversation_id: int
    removed_user_id: int
    operator_id: int
    is_self_exit: bool


class RoleChange(Frame):
    conversation_id: int
    user_id: int
    old_role: Role
    new_role: Role


class BroadcastReceived(Frame):
    broadcast_id: int
    title: str
    content: str
    priority: str
    sender_id: int
    attachments: list[str]
    created_at: str


class WatermarkUpdated(Frame):
    watermark_id: int
    mark: bool
    transparency: int
    name: bool
    phone: bool
    date: bool


class Typing(Frame):
    conversation_id: int
    user_id: int
    is_typing: bool


class UserStatus(Frame):
    user_id: int
    is_online: bool


# frame type -> (data type, carries an event position, summary)
SERVER_FRAMES: dict[str, tuple[Any, bool, str]] = {
    "connection_established": (
        ConnectionEstablished,
        False,
        "First frame: the user, the connection id, the live stream's start and the resume point",
    ),
    "pong": (Empty, False, 'The answer to {"type": "ping"}'),
    "error": (FrameError, False, "The client sent a frame other than ping or pong"),
    "new_message": (PushedMessage, True, "A message was sent in one of the user's conversations"),
    "message_edited": (PushedMessage, True, "A message was edited (its current state)"),
    "message_recalled": (PushedMessage, True, "A message was recalled (its current state)"),
    "mark_read": (ReadMark, True, "A member's read watermark moved"),
    "conversation_created": (
        CreatedConversation,
        True,
        "A conversation the user is in was created",
    ),
    "conversation_updated": (Conversation, True, "A conversation's settings changed"),
    "conversation_dissolved": (Conversation, True, "A group was dissolved"),
    "member_added": (MembersAdded, True, "Members joined (sent to the members after it)"),
    "member_removed": (MemberLeft, True, "A member left or was removed (sent to those before)"),
    "role_changed": (RoleChange, True, "A member's role changed"),
    "notification_created": (
        Notification,
        True,
        "A notification for the user, when their preferences allow push",
    ),
    "broadcast_received": (BroadcastReceived, True, "A broadcast to everyone or to the user"),
    "watermark_updated": (
        WatermarkUpdated,
        True,
        "The center changed the watermark settings (legacy RabbitMQ update_water_mark), to all",
    ),
    "typing": (Typing, False, "Someone in a shared conversation is (no longer) typing"),
    "user_status_changed": (
        UserStatus,
        False,
        "Someone sharing a conversation came online (first connection) or went offline (last)",
    ),
}
CLIENT_FRAMES = {
    "ping": "Keep-alive: send one at least every 30 s; answered by pong",
    "pong": "Accepted and ignored",
}
CLOSE_CODES: list[tuple[int, str, str]] = [
    (
        4401,
        "missing, bad or expired token, unknown or inactive user, or /ws/{id} not the token's",
        "log in again",
    ),
    (4400, "since is not a non-negative integer", "fix the URL"),
    (
        4409,
        "since is older than IM_WS_RESUME_MAX_EVENTS events, or beyond anything stored",
        "resync over REST, then connect without since",
    ),
    (4408, "no frame from the client for more than IM_WS_IDLE_SECONDS", "reconnect with since"),
    (
        1013,
        "too slow (outgoing queue overflowed), or the server is still starting",
        "reconnect with since",
    ),
    (1011, "resuming failed inside the server", "reconnect with since"),
    (1012, "the server is restarting", "reconnect with since"),
]

AMQP_PROPERTIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The AMQP basic properties of every published message.",
    "required": ["message_id", "type", "timestamp", "content_type", "delivery_mode"],
    "properties": {
        "message_id": {"type": "string", "description": "= the envelope's id; deduplicate on it"},
        "type": {"type": "string", "description": "= the envelope's type"},
        "timestamp": {"type": "integer", "description": "occurred_at in whole epoch seconds"},
        "content_type": {"const": CONTENT_TYPE},
        "delivery_mode": {"const": 2, "description": "persistent"},
    },
}


def published_events() -> list[type[Event]]:
    """Every event class the relay publishes (all but the internal bookkeeping ones)."""
    out = [c for c in event_classes(DomainEvent) if MAPPING.rule_for(c.type_name()) is not None]
    return sorted(out, key=lambda c: c.type_name())


def routing_key_pattern(event_type: str) -> str:
    """The routing key of an event type with its variable parts as ``{parameters}``."""
    rule = MAPPING.rule_for(event_type)
    assert rule is not None
    category = rule.category or "{category}"
    return f"{category}.{snake_case(rule.name)}.{{aggregate_id}}"


def _data_schema(event_schema: dict[str, Any], cls: type[Event]) -> dict[str, Any]:
    """An event's schema as partners see it in ``data``: no tag, no withheld field."""
    rule = MAPPING.rule_for(cls.type_name())
    assert rule is not None
    hidden = {"type", *rule.redact, *(f for f in cls.__struct_fields__ if is_sensitive(f))}
    props = {k: v for k, v in event_schema.get("properties", {}).items() if k not in hidden}
    schema: dict[str, Any] = {
        "title": f"{cls.type_name()} data",
        "type": "object",
        "properties": props,
        "required": [k for k in event_schema.get("required", []) if k not in hidden],
    }
    if cls.__doc__:
        schema["description"] = " ".join(cls.__doc__.split())
    return schema


def _server_host(settings: Settings) -> tuple[str, str]:
    if settings.public_base_url:
        parts = urlsplit(settings.public_base_url)
        return parts.netloc, "wss" if parts.scheme == "https" else "ws"
    return f"{settings.host}:{settings.port}", "ws"


def _broker(settings: Settings) -> dict[str, Any]:
    url = settings.amqp_public_url or settings.amqp_url
    if not url:
        return {
            "host": "localhost:5672",
            "protocol": "amqp",
            "description": "The cascade is off on this server (IM_AMQP_URL is unset); shown with"
            " RabbitMQ's default address.",
        }
    parts = urlsplit(url)
    port = parts.port or (5671 if parts.scheme == "amqps" else 5672)
    server: dict[str, Any] = {
        "host": f"{parts.hostname}:{port}",
        "protocol": parts.scheme or "amqp",
        "description": "The cascade's RabbitMQ. Credentials: ask the operator, or GET"
        " /api/v1/cascade/mq-info with a partner credential.",
    }
    if len(parts.path) > 1:
        server["pathname"] = parts.path
    return server


def build_asyncapi(settings: Settings, version: str) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of this server's WebSocket and cascade."""
    events = published_events()
    frame_types = sorted({t for t, _, _ in SERVER_FRAMES.values()}, key=lambda t: t.__name__)
    types: list[Any] = [*frame_types, Envelope, SyncUsers, SyncResult, *events]
    schemas, components = msgspec.json.schema_components(types, ref_template=_REF)
    ref_of = dict(zip(types, schemas, strict=True))
    for cls in events:  # the raw events become their partner-visible data schemas
        name = ref_of[cls]["$ref"].rsplit("/", 1)[-1]
        components[f"{cls.type_name()}Data"] = _data_schema(components.pop(name), cls)
    components["AmqpProperties"] = AMQP_PROPERTIES_SCHEMA

    messages: dict[str, Any] = {}
    ws_messages: dict[str, Any] = {}
    for kind, (typ, positioned, summary) in SERVER_FRAMES.items():
        messages[kind] = _frame_message(kind, ref_of[typ], positioned, summary)
        ws_messages[kind] = {"$ref": f"#/components/messages/{kind}"}
    for kind, summary in CLIENT_FRAMES.items():
        name = f"client_{kind}"
        messages[name] = {
            "name": name,
            "title": f"{kind} (client)",
            "summary": summary,
            "payload": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": kind}},
            },
        }
        ws_messages[name] = {"$ref": f"#/components/messages/{name}"}

    fmt = formatter(settings.envelope_format_name)
    event_messages: dict[str, Any] = {}
    for cls in events:
        name = cls.type_name()
        messages[name] = _event_message(name, ref_of[Envelope], fmt.version)
        event_messages[name] = {"$ref": f"#/components/messages/{name}"}
    messages["SyncUsers"] = {
        "name": "SyncUsers",
        "title": "Partner user sync",
        "summary": "Create or update users; the same body as POST /api/v1/cascade/sync/users",
        "contentType": CONTENT_TYPE,
        "payload": ref_of[SyncUsers],
    }
    messages["SyncResult"] = {
        "name": "SyncResult",
        "title": "Partner user sync result",
        "summary": "The outcome per user, sent to reply_to when the partner set it",
        "contentType": CONTENT_TYPE,
        "correlationId": {
            "location": "$message.header#/correlation_id",
            "description": "The request's correlation_id, or its message_id when it had none",
        },
        "payload": ref_of[SyncResult],
    }

    host, ws_scheme = _server_host(settings)
    close_rows = "\n".join(f"| {c} | {why} | {then} |" for c, why, then in CLOSE_CODES)
    ws_description = (
        "Live push for one user. Frames are JSON text: `{type, data, timestamp, position}`;"
        " `position` (the event's global event-store position) is absent on ephemeral frames."
        " Keep the highest position seen and reconnect with `?since=<it>`: every event after it"
        " that concerned the user is replayed in order, then the stream goes live, with no gap"
        " and no duplicate. `/api/v1/realtime/ws/{user_id}?token=` and `/ws/{user_id}?token=` are"
        " the same channel (the id must be the token's); an `Authorization: Bearer` header"
        " works instead of `token`.\n\n"
        "Close codes:\n\n| code | meaning | what the client does |\n|---|---|---|\n" + close_rows
    )
    exchange = settings.amqp_exchange
    partner_queue = settings.amqp_partner_queue or "im.partner.users"
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "IM server events",
            "version": version,
            "description": (
                "The WebSocket push channel for clients, and the RabbitMQ cascade for partner"
                " systems: every stored domain event published to a topic exchange, and a"
                " durable queue partners send user-sync messages to. The HTTP API is in"
                " /openapi.json."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "api": {
                "host": host,
                "protocol": ws_scheme,
                "description": "The IM server (im serve, or im queries in the split deployment)",
                "security": [{"$ref": "#/components/securitySchemes/token"}],
            },
            "broker": _broker(settings),
        },
        "channels": {
            "realtime": {
                "address": "/api/v1/realtime/ws",
                "title": "WebSocket push",
                "description": ws_description,
                "servers": [{"$ref": "#/servers/api"}],
                "messages": ws_messages,
                "bindings": {
                    "ws": {
                        "method": "GET",
                        "query": {
                            "type": "object",
                            "properties": {
                                "token": {
                                    "type": "string",
                                    "description": "An access token (POST /api/v1/auth/login/"
                                    "access-token)",
                                },
                                "since": {
                                    "type": "string",
                                    "pattern": "^[0-9]{1,18}$",
                                    "description": "Resume after this event position",
                                },
                            },
                        },
                        "bindingVersion": "0.1.0",
                    }
                },
                "x-close-codes": [
                    {"code": c, "meaning": why, "action": then} for c, why, then in CLOSE_CODES
                ],
            },
            "cascadeEvents": {
                "address": "{category}.{event_type}.{aggregate_id}",
                "title": f"Cascade exchange {exchange!r}",
                "description": (
                    f"Every stored domain event but internal bookkeeping, published to the"
                    f" durable topic exchange {exchange!r} with publisher confirms, in event-store"
                    f" order, as `{fmt.name}` version {fmt.version}. Routing key"
                    f" `{ROUTING_KEY_FORMAT}`, e.g. `user.user_registered.42`; bind `#` for"
                    " everything, or `conversation.message_sent.*`. Within one stream messages"
                    " arrive in stream_version order; after a relay crash or a broken connection"
                    " a message may arrive again with the same message_id (deduplicate on it)."
                    " AMQP properties: components/schemas/AmqpProperties."
                    + (
                        ""
                        if settings.envelope_cascade
                        else " NOT PUBLISHED by this server: IM_CASCADE_FORMAT=legacy runs only"
                        " the previous system's protocol (see the README)."
                    )
                ),
                "servers": [{"$ref": "#/servers/broker"}],
                "parameters": {
                    "category": {
                        "description": "user, conversation, file, broadcast, or the stream's"
                        " category for undeclared types",
                    },
                    "event_type": {"description": "The event type in snake_case"},
                    "aggregate_id": {
                        "description": "The aggregate's id (a conversation's for every event of"
                        " a conversation); dots become _"
                    },
                },
                "messages": event_messages,
                "bindings": {
                    "amqp": {
                        "is": "routingKey",
                        "exchange": {
                            "name": exchange,
                            "type": "topic",
                            "durable": True,
                            "autoDelete": False,
                            "vhost": "/",
                        },
                        "bindingVersion": "0.3.0",
                    }
                },
            },
            "partnerUsers": {
                "address": partner_queue,
                "title": "Partner user queue",
                "description": (
                    "Partners publish user-sync messages to this durable queue (through the"
                    " default exchange, routing key = the queue's name). A message that is not a"
                    " SyncUsers body, or has more users than allowed, goes to the dead-letter"
                    f" queue {settings.dead_letter_queue!r}; a valid one is applied (bad entries"
                    " are reported in the result's errors), answered on reply_to when set, and"
                    " acked."
                ),
                "servers": [{"$ref": "#/servers/broker"}],
                "messages": {"SyncUsers": {"$ref": "#/components/messages/SyncUsers"}},
                "bindings": {
                    "amqp": {
                        "is": "queue",
                        "queue": {
                            "name": partner_queue,
                            "durable": True,
                            "exclusive": False,
                            "autoDelete": False,
                            "vhost": "/",
                        },
                        "bindingVersion": "0.3.0",
                    }
                },
            },
            "partnerReplies": {
                "address": None,
                "title": "Partner reply queue",
                "description": "The queue the partner named in reply_to (via the default"
                " exchange).",
                "servers": [{"$ref": "#/servers/broker"}],
                "messages": {"SyncResult": {"$ref": "#/components/messages/SyncResult"}},
            },
        },
        "operations": {
            "pushFrames": {
                "action": "send",
                "channel": {"$ref": "#/channels/realtime"},
                "summary": "The server pushes frames to each connected client",
                "messages": [{"$ref": f"#/channels/realtime/messages/{k}"} for k in SERVER_FRAMES],
            },
            "receiveClientFrames": {
                "action": "receive",
                "channel": {"$ref": "#/channels/realtime"},
                "summary": "What a client may send",
                "messages": [
                    {"$ref": f"#/channels/realtime/messages/client_{k}"} for k in CLIENT_FRAMES
                ],
            },
            "publishEvents": {
                "action": "send",
                "channel": {"$ref": "#/channels/cascadeEvents"},
                "summary": "The relay publishes every published event type",
                "bindings": {
                    "amqp": {"deliveryMode": 2, "timestamp": True, "bindingVersion": "0.3.0"}
                },
                "messages": [
                    {"$ref": f"#/channels/cascadeEvents/messages/{k}"} for k in event_messages
                ],
            },
            "consumePartnerUsers": {
                "action": "receive",
                "channel": {"$ref": "#/channels/partnerUsers"},
                "summary": "Apply partner user-sync messages",
                "messages": [{"$ref": "#/channels/partnerUsers/messages/SyncUsers"}],
                "reply": {
                    "address": {
                        "location": "$message.header#/reply_to",
                        "description": "The request's reply_to property",
                    },
                    "channel": {"$ref": "#/channels/partnerReplies"},
                    "messages": [{"$ref": "#/channels/partnerReplies/messages/SyncResult"}],
                },
            },
        },
        "components": {
            "schemas": components,
            "messages": messages,
            "securitySchemes": {
                "token": {
                    "type": "httpApiKey",
                    "name": "token",
                    "in": "query",
                    "description": "The access token as ?token= (or an Authorization: Bearer"
                    " header)",
                }
            },
        },
    }
    return doc


def _frame_message(
    kind: str, data_ref: dict[str, Any], positioned: bool, summary: str
) -> dict[str, Any]:
    required = ["type", "data", "timestamp"] + (["position"] if positioned else [])
    properties: dict[str, Any] = {
        "type": {"const": kind},
        "data": data_ref,
        "timestamp": {"type": "string", "format": "date-time"},
    }
    if positioned:
        properties["position"] = {
            "type": "integer",
            "minimum": 1,
            "description": "The event's global position: reconnect with ?since=<highest seen>",
        }
    return {
        "name": kind,
        "title": kind,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "payload": {
            "type": "object",
            "required": required,
            "additionalProperties": False,
            "properties": properties,
        },
    }


def _event_message(name: str, envelope_ref: dict[str, Any], version: int) -> dict[str, Any]:
    return {
        "name": name,
        "title": name,
        "summary": f"Routing key {routing_key_pattern(name)}",
        "contentType": CONTENT_TYPE,
        "payload": {
            "allOf": [
                envelope_ref,
                {
                    "type": "object",
                    "properties": {
                        "type": {"const": name},
                        "version": {"const": version},
                        "data": {"$ref": _REF.format(name=f"{name}Data")},
                    },
                },
            ]
        },
        "correlationId": {
            "location": "$message.payload#/id",
            "description": "The event id, also the AMQP message_id",
        },
        "bindings": {"amqp": {"messageType": name, "bindingVersion": "0.3.0"}},
        "x-routing-key": routing_key_pattern(name),
        "x-amqp-properties": {"$ref": _REF.format(name="AmqpProperties")},
    }
