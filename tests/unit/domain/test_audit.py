"""domain/audit.py: the ``AuditEvent`` line (times, metadata as shown) and reading it back."""

from __future__ import annotations

import datetime as dt
import json

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import codec, tracing
from domain import users as u
from domain.audit import audit_line, audit_metadata, iso, parse_line, stored_metadata
from domain.chain import GENESIS, seal
from domain.store import RecordedEvent

TIMES = st.floats(min_value=0, max_value=4e9, allow_nan=False)


def test_iso_is_utc_with_milliseconds() -> None:
    assert iso(1_795_631_650.123) == "2026-11-25T18:34:10.123Z"
    assert iso(0.0) == "1970-01-01T00:00:00.000Z"
    assert iso(59.9996) == "1970-01-01T00:01:00.000Z"  # rounded, into the next second


@given(st.lists(TIMES, min_size=1, max_size=10))
def test_iso_parses_back_to_the_millisecond_whatever_came_before(times: list[float]) -> None:
    """The cached second is reused only for the same second (times in any order)."""
    for ts in times + times[::-1]:
        text = iso(ts)
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        assert round(parsed.timestamp() * 1000) == round(ts * 1000), text


def test_metadata_shows_our_names_for_kurrentdbs_keys() -> None:
    stored = codec.metadata_for(u.UserRenamed(user_id=1, name="a"), "e1", None)
    shown = audit_metadata(stored)
    assert b"$" not in shown
    assert json.loads(shown)["correlation_id"] == "e1"
    assert "causation_id" in json.loads(shown)
    assert stored_metadata(shown) == stored


def test_no_metadata_is_shown_as_an_empty_object_and_stored_as_nothing() -> None:
    assert audit_metadata(b"") == b"{}"
    assert stored_metadata(b"{}") == b""


@given(st.text(max_size=10), st.one_of(st.none(), st.text(max_size=10)), st.booleans())
def test_showing_metadata_is_reversible(
    correlation: str, causation: str | None, sealed: bool
) -> None:
    trace = tracing.Trace(correlation, tracing.Actor("user", 3), causation)
    stored = codec.metadata_for(u.UserRenamed(user_id=1, name="a"), "e1", trace)
    if sealed:
        stored, _ = seal(GENESIS, "UserRenamed", b"{}", stored)
    assert stored_metadata(audit_metadata(stored)) == stored


def record(data: bytes, metadata: bytes, recorded_at: float) -> RecordedEvent:
    return RecordedEvent(
        id="0190c0de-0000-7000-8000-000000000001",
        stream="user-42",
        version=3,
        position=1234,
        type="UserRenamed",
        data=data,
        metadata=metadata,
        recorded_at=recorded_at,
    )


def test_a_line_is_the_documented_json() -> None:
    stored, _ = seal(GENESIS, "UserRenamed", b'{"name":"a"}', b'{"$correlationId":"r"}')
    line = audit_line(record(b'{"name":"a"}', stored, 1_795_631_650.123))
    assert b"\n" not in line
    shown = json.loads(line)
    assert list(shown) == [
        "position",
        "stream",
        "version",
        "id",
        "type",
        "data",
        "recorded_at",
        "metadata",
    ]
    assert (shown["position"], shown["stream"], shown["version"]) == (1234, "user-42", 3)
    assert shown["data"] == {"name": "a"}
    assert shown["recorded_at"] == "2026-11-25T18:34:10.123Z"
    assert shown["metadata"]["correlation_id"] == "r"
    assert shown["metadata"]["prev_hash"] == GENESIS.decode()


@given(
    st.binary(max_size=0) | st.just(b'{"name":"a"}') | st.just(b"[1,2]"),
    st.booleans(),
    st.integers(0, 4_000_000_000_000),
)
def test_a_line_reads_back_as_the_stored_event(data: bytes, traced: bool, ms: int) -> None:
    trace = tracing.Trace("req", tracing.Actor("partner", "acme"), "cause") if traced else None
    metadata, _ = seal(
        GENESIS, "UserRenamed", data, codec.metadata_for(u.UserRenamed(1, "a"), "e", trace)
    )
    rec = record(data, metadata, ms / 1000)
    assert parse_line(audit_line(rec)) == rec


def test_an_event_without_data_or_metadata_reads_back_as_such() -> None:
    rec = record(b"", b"", 10.5)
    line = audit_line(rec)
    assert json.loads(line)["data"] is None and json.loads(line)["metadata"] == {}
    assert parse_line(line) == rec


def test_a_malformed_line_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        parse_line(b'{"position": "one"}')
