"""The cascade envelope says who caused an event and in which request, like the log does."""

from __future__ import annotations

import json

import jsonschema

from domain import tracing
from domain.cascade import MAPPING, EnvelopeFormatter, messages_for
from tests.unit.domain.test_cascade import SCHEMA, recorded, registered


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
