"""domain/cascade.py: the cascade's published language: mapping, redaction, routing keys, the
envelope schema, and the trace (actor, correlation, causation) the envelope carries."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from domain import conversations as c
from domain import tracing
from domain import users as u
from domain.cascade import (
    MAPPING,
    CascadeMapping,
    EnvelopeFormatter,
    Rule,
    formatter,
    is_sensitive,
    iso_utc,
    messages_for,
    occurred_at,
    public_data,
    routing_key,
    snake_case,
)
from domain.ids import IdBlockReserved
from domain.store import RecordedEvent, new_event

SCHEMA = json.loads(
    (Path(__file__).parents[3] / "docs" / "cascade-envelope.schema.json").read_text()
)


def recorded(event: object, stream: str, version: int = 0, position: int = 1) -> RecordedEvent:
    new = new_event(event)  # type: ignore[arg-type]
    return RecordedEvent(
        id=new.id,
        stream=stream,
        version=version,
        position=position,
        type=new.type,
        data=new.data,
        metadata=new.metadata,
        recorded_at=1_700_000_000.5,
    )


def registered(user_id: int = 42) -> u.UserRegistered:
    return u.UserRegistered(
        user_id=user_id,
        standard_id="zhangsan",
        name="Zhang San",
        password_hash="$argon2id$v=19$secret",
        at=1_795_631_650.123,
    )


def test_envelope_properties_and_body() -> None:
    rec = recorded(registered(), "user-42", version=0, position=7)
    [msg], bad = messages_for([rec], MAPPING, EnvelopeFormatter())
    assert bad == []
    assert msg.message_id == rec.id
    assert msg.type == "UserRegistered"
    assert msg.routing_key == "user.user_registered.42"
    assert msg.content_type == "application/json"
    assert msg.timestamp == pytest.approx(1_795_631_650.123)
    body = json.loads(msg.body)
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["id"] == rec.id
    assert body["version"] == 1
    assert (body["stream"], body["stream_version"], body["position"]) == ("user-42", 0, 7)
    assert body["occurred_at"] == "2026-11-25T18:34:10.123Z"
    assert body["data"]["standard_id"] == "zhangsan"
    assert "type" not in body["data"]


def test_password_hashes_are_never_published() -> None:
    changed = u.UserPasswordChanged(user_id=5, password_hash="$argon2id$secret", at=1.0)
    batch = [recorded(registered(5), "user-5"), recorded(changed, "user-5", 1, 2)]
    messages, _ = messages_for(batch, MAPPING, EnvelopeFormatter())
    assert [m.type for m in messages] == ["UserRegistered", "UserPasswordChanged"]
    for m in messages:
        assert b"argon2" not in m.body and b"password_hash" not in m.body
        jsonschema.validate(json.loads(m.body), SCHEMA)


def test_undeclared_fields_that_look_secret_are_withheld_anyway() -> None:
    data = public_data(registered(), Rule("UserRegistered"))  # a rule that forgot to redact
    assert "password_hash" not in data and data["name"] == "Zhang San"
    for name in ("password", "password_hash", "token_hash", "secret", "api_key", "invite_code"):
        assert is_sensitive(name), name
    for name in ("name", "sha256", "standard_id", "content"):
        assert not is_sensitive(name), name


def test_internal_events_are_not_published_and_unknown_types_are_by_default() -> None:
    claim = u.StandardIdClaimed(standard_id="x", user_id=1)
    block = IdBlockReserved(kind="user", start=1, size=100)
    batch = [recorded(claim, "standardid-x"), recorded(block, "ids-user", 0, 2)]
    assert messages_for(batch, MAPPING, EnvelopeFormatter())[0] == []
    assert MAPPING.rule_for("SomethingNew") == Rule("SomethingNew")
    assert MAPPING.rule_for("StandardIdClaimed") is None


def test_undecodable_events_are_reported_not_published() -> None:
    rec = recorded(registered(), "user-42")
    rec = RecordedEvent(**{**{f: getattr(rec, f) for f in rec.__struct_fields__}, "type": "Gone"})
    assert messages_for([rec], MAPPING, EnvelopeFormatter()) == ([], [rec])


def test_formatting_is_deterministic_so_duplicates_are_identical() -> None:
    rec = recorded(registered(), "user-42")
    rule = MAPPING.rule_for(rec.type)
    assert rule is not None
    first = EnvelopeFormatter().format(rec, rec.decode(), rule)
    assert EnvelopeFormatter().format(rec, rec.decode(), rule) == first


@pytest.mark.parametrize(
    ("name", "snake"),
    [
        ("MessageSent", "message_sent"),
        ("UserRegistered", "user_registered"),
        ("HTTPThingDone", "http_thing_done"),
        ("X", "x"),
    ],
)
def test_snake_case(name: str, snake: str) -> None:
    assert snake_case(name) == snake


def test_routing_key_without_aggregate_id_and_with_dots() -> None:
    rec = recorded(registered(), "user-a.b")
    assert messages_for([rec], MAPPING, EnvelopeFormatter())[0][0].routing_key == (
        "user.user_registered.a_b"
    )


def test_conversation_events_route_by_conversation_whatever_their_stream() -> None:
    sent = c.MessageSent(
        message_id=900, conversation_id=42, seq=3, sender_id=1, message_type="text", content="hi"
    )
    edited = c.MessageEdited(message_id=900, conversation_id=42, seq=3, editor_id=1, content="yo")
    code = c.InviteCodeCreated(conversation_id=42, code="SECRET123", operator_id=1, expires_at=9.0)
    batch = [
        recorded(sent, "messages-42", 2, 1),
        recorded(edited, "message-900", 0, 2),
        recorded(code, "conversation-42", 5, 3),
    ]
    messages, _ = messages_for(batch, MAPPING, EnvelopeFormatter())
    assert [m.routing_key for m in messages] == [
        "conversation.message_sent.42",
        "conversation.message_edited.42",
        "conversation.invite_code_created.42",
    ]
    assert json.loads(messages[0].body)["stream"] == "messages-42"  # the real stream, for order
    assert b"SECRET123" not in messages[2].body


def test_declared_patterns_and_unknown_format() -> None:
    assert "user.user_registered.*" in MAPPING.routing_patterns()
    with pytest.raises(KeyError, match="envelope"):
        formatter("nope")


def test_envelope_carries_actor_and_ids() -> None:
    trace = tracing.Trace("req-42", tracing.Actor("user", 7), "01a2-cause")
    with tracing.traced(trace):
        rec = recorded(registered(), "user-42")
    [msg], _ = messages_for([rec], MAPPING, EnvelopeFormatter())
    body = json.loads(msg.body)
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["actor"] == {"kind": "user", "id": 7}
    assert (body["correlation_id"], body["causation_id"]) == ("req-42", "01a2-cause")


def test_events_without_a_trace_are_the_system_correlated_to_themselves() -> None:
    rec = recorded(registered(), "user-42")
    [msg], _ = messages_for([rec], MAPPING, EnvelopeFormatter())
    body = json.loads(msg.body)
    jsonschema.validate(body, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert body["actor"] == {"kind": "system", "id": "server"}
    assert body["correlation_id"] == rec.id and "causation_id" not in body  # omitted when none


def test_rules_declared_internal_and_by_default() -> None:
    mapping = CascadeMapping([("A", Rule("A", "alpha", redact=frozenset({"x"})))], internal={"B"})
    assert mapping.rule_for("A") == Rule("A", "alpha", redact=frozenset({"x"}))
    assert mapping.rule_for("B") is None
    assert mapping.rule_for("C") == Rule("C")
    assert mapping.rule_for("A") is mapping.rule_for("A")  # answered once, then remembered
    assert mapping.rule_for("B") is None
    assert mapping.routing_patterns() == ["alpha.a.*"]


def test_every_declared_type_has_a_routing_pattern() -> None:
    patterns = MAPPING.routing_patterns()
    assert patterns == sorted(patterns)
    assert len(patterns) == len(MAPPING.rules)
    assert "conversation.message_sent.*" in patterns
    assert "watermark.water_mark_updated.*" in patterns
    assert not MAPPING.rules.keys() & MAPPING.internal


def test_routing_keys_take_the_aggregate_from_a_field_when_the_rule_says_so() -> None:
    sent = c.MessageSent(
        message_id=900, conversation_id=42, seq=3, sender_id=1, message_type="text"
    )
    rec = recorded(sent, "messages-42")
    rule = Rule("MessageSent", "conversation", "conversation_id")
    assert routing_key(rec, rule, {"conversation_id": 42}) == "conversation.message_sent.42"
    assert routing_key(rec, rule, {"conversation_id": None}) == "conversation.message_sent.42"
    assert routing_key(rec, rule, {}) == "conversation.message_sent.42"
    assert routing_key(rec, Rule("MessageSent"), {}) == "messages.message_sent.42"
    assert routing_key(recorded(sent, "messages-"), Rule("X"), {}) == "messages.x._"
    dotted = Rule("PlatformMqUpdated", "platform", "platform_id")
    assert routing_key(rec, dotted, {"platform_id": "a.b"}) == "platform.platform_mq_updated.a_b"


def test_an_event_occurred_at_its_own_time_else_when_recorded() -> None:
    rec = recorded(registered(), "user-42")
    assert occurred_at(rec, registered()) == 1_795_631_650.123
    assert occurred_at(rec, u.UserRenamed(user_id=1, name="x", at=0.0)) == rec.recorded_at
    assert occurred_at(rec, IdBlockReserved(kind="user", start=1, size=1)) == rec.recorded_at


def test_iso_utc_truncates_to_the_millisecond() -> None:
    assert iso_utc(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso_utc(1_795_631_650.1239) == "2026-11-25T18:34:10.123Z"


def test_public_data_withholds_the_tag_redacted_and_sensitive_fields() -> None:
    code = c.InviteCodeCreated(conversation_id=42, code="SECRET", operator_id=1, expires_at=9.0)
    assert public_data(code, Rule("InviteCodeCreated", redact=frozenset({"code"}))) == {
        "conversation_id": 42,
        "operator_id": 1,
        "expires_at": 9.0,
        "max_uses": None,
        "at": 0.0,
    }
    assert public_data(code, Rule("InviteCodeCreated"))["code"] == "SECRET"


def test_the_envelope_formatter_is_the_default_format() -> None:
    fmt = formatter("envelope")
    assert isinstance(fmt, EnvelopeFormatter)
    assert (fmt.name, fmt.version) == ("envelope", 1)


@pytest.mark.parametrize("name", ["password_reset", "passwords", "refresh_token_hash", "token"])
def test_more_names_that_look_secret(name: str) -> None:
    assert is_sensitive(name)
