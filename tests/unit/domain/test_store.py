"""domain/store.py: event ids, events ready to append (with their trace), recorded events."""

from __future__ import annotations

import time
import uuid

import msgspec

from domain import codec, tracing
from domain import users as u
from domain.store import NewEvent, RecordedEvent, event_id, new_event, traced_event

RENAMED = u.UserRenamed(user_id=4, name="Ann", at=5.0, standard_id="ann")


def recorded(new: NewEvent, stream: str = "user-4") -> RecordedEvent:
    return RecordedEvent(new.id, stream, 0, 1, new.type, new.data, new.metadata, 0.0)


def test_an_event_id_is_a_uuid7_of_now() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid.UUID(event_id())
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after


def test_event_ids_are_distinct_within_a_millisecond() -> None:
    ids = [event_id() for _ in range(1000)]
    assert len(set(ids)) == len(ids)


def test_later_event_ids_sort_after_earlier_ones() -> None:
    first = event_id()
    start = time.time_ns() // 1_000_000
    while time.time_ns() // 1_000_000 == start:  # the next millisecond
        pass
    assert event_id() > first


def test_a_new_event_holds_the_codecs_encoding() -> None:
    new = traced_event(RENAMED, None)
    assert (new.type, new.data) == codec.encode(RENAMED)
    assert uuid.UUID(new.id).version == 7
    assert recorded(new).decode() == RENAMED


def test_a_new_event_is_attributed_to_the_running_trace() -> None:
    trace = tracing.Trace("req-1", tracing.Actor("user", 9), "cause-1")
    with tracing.traced(trace):
        new = new_event(RENAMED)
    meta = codec.parse_metadata(new.metadata)
    assert meta.actor == tracing.Actor("user", 9)
    assert (meta.correlation_id, meta.causation_id) == ("req-1", "cause-1")
    assert meta.schema_version == u.UserRenamed.schema_version


def test_outside_a_trace_the_system_appends_correlated_to_the_event_itself() -> None:
    new = traced_event(RENAMED, None)
    meta = codec.parse_metadata(new.metadata)
    assert meta.actor == tracing.SYSTEM
    assert (meta.correlation_id, meta.causation_id) == (new.id, None)


def test_a_captured_trace_wins_over_the_running_one() -> None:
    captured = tracing.Trace("captured", tracing.Actor("partner", "acme"))
    with tracing.traced(tracing.Trace("running")):
        new = traced_event(RENAMED, captured)
    meta = codec.parse_metadata(new.metadata)
    assert (meta.correlation_id, meta.actor) == ("captured", tracing.Actor("partner", "acme"))


def test_a_recorded_event_decodes_without_metadata() -> None:
    new = msgspec.structs.replace(traced_event(RENAMED, None), metadata=b"")
    assert recorded(new).decode() == RENAMED


def test_the_category_is_the_stream_up_to_its_first_dash() -> None:
    new = traced_event(RENAMED, None)
    assert recorded(new, "user-4").category == "user"
    assert recorded(new, "reads-5-7").category == "reads"
    assert recorded(new, "nodash").category == "nodash"
