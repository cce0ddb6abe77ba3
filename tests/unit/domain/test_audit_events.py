"""domain/audit_events.py: the event that records an auditor's read, and its stream."""

from __future__ import annotations

from domain import codec
from domain.audit_events import AuditLogEvent, AuditRead, audit_stream
from domain.events import event_classes


def test_each_reader_has_an_audit_stream() -> None:
    assert audit_stream(7) == "audit-7"
    assert audit_stream(7) != audit_stream(70)


def test_a_read_without_filters_records_none() -> None:
    read = AuditRead(reader_id=7, route="/audit/events")
    assert (read.filters, read.at) == ({}, 0.0)
    assert AuditRead.type_name() == "AuditRead"
    assert event_classes(AuditLogEvent) == (AuditRead,)


def test_a_read_round_trips_through_the_codec() -> None:
    read = AuditRead(reader_id=7, route="/audit/events", filters={"type": "MessageSent"}, at=5.0)
    type_name, data = codec.encode(read)
    assert codec.decode(type_name, data) == read
