"""domain/codec.py: every domain event round-trips through the codec; old versions are upcast;
the metadata written with each event."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import codec
from domain.chain import GENESIS, seal
from domain.codec import DomainEvent, UnknownEventError
from domain.events import Event, event_classes, type_names
from domain.store import RecordedEvent
from domain.tracing import SYSTEM, Actor, Trace

INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | INT64 | FLOATS | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


def strategy(t: msgspec.inspect.Type) -> st.SearchStrategy[Any]:
    """Values of a msgspec type that JSON can carry exactly."""
    mi = msgspec.inspect
    match t:
        case mi.IntType():
            return INT64
        case mi.FloatType():
            return FLOATS
        case mi.StrType():
            return st.text(max_size=20)
        case mi.BytesType():
            return st.binary(max_size=20)
        case mi.BoolType():
            return st.booleans()
        case mi.NoneType():
            return st.none()
        case mi.AnyType():
            return JSON
        case mi.LiteralType():
            return st.sampled_from(t.values)
        case mi.UnionType():
            return st.one_of([strategy(x) for x in t.types])
        case mi.ListType():
            return st.lists(strategy(t.item_type), max_size=4)
        case mi.VarTupleType():
            return st.lists(strategy(t.item_type), max_size=4).map(tuple)
        case mi.TupleType():
            return st.tuples(*(strategy(x) for x in t.item_types))
        case mi.DictType():
            return st.dictionaries(strategy(t.key_type), strategy(t.value_type), max_size=4)
        case mi.StructType():
            return struct_strategy(t)
    raise AssertionError(f"no strategy for {t!r}")


def struct_strategy(t: msgspec.inspect.StructType) -> st.SearchStrategy[Any]:
    fields = {f.name: strategy(f.type) for f in t.fields}
    return st.fixed_dictionaries(fields).map(lambda kw: t.cls(**kw))


def events_of(cls: type[Event]) -> st.SearchStrategy[Any]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return struct_strategy(info)


def domain_event_classes() -> set[type[Event]]:
    """Every Event subclass the domain package defines (found by walking subclasses here, in
    the test, so that a class left out of its aggregate's union is noticed)."""
    out: set[type[Event]] = set()
    stack = list(Event.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.startswith("domain."):
            out.add(cls)
    return out


def test_the_unions_cover_every_domain_event() -> None:
    assert set(event_classes(DomainEvent)) == domain_event_classes()


def test_tags_are_unique() -> None:
    classes = event_classes(DomainEvent)
    assert len(type_names(DomainEvent)) == len(classes)


def round_trip(event: Event) -> Event:
    type_name, data = codec.encode(event)
    version = codec.schema_version_of(codec.metadata_for(event, "e1", None))
    return codec.decode(type_name, data, version)


@pytest.mark.parametrize("cls", event_classes(DomainEvent), ids=lambda c: c.type_name())
def test_every_event_round_trips(cls: type[Event]) -> None:
    @settings(max_examples=15, deadline=None)
    @given(events_of(cls))
    def check(event: Event) -> None:
        assert type(event) is cls
        assert round_trip(event) == event

    check()


def test_unknown_types_are_refused() -> None:
    with pytest.raises(UnknownEventError):
        codec.decode("NoSuchEvent", b"{}")


class _NoteV1(Event, frozen=True, tag="test.codec.NoteV1"):
    text: str


def test_a_tag_names_one_class() -> None:
    codec.register(_NoteV1)
    codec.register(_NoteV1)  # the same class again is fine

    class Impostor(Event, frozen=True, tag="test.codec.NoteV1"):
        text: str

    with pytest.raises(TypeError):
        codec.register(Impostor)


class NoteWritten(Event, frozen=True, tag="test.codec.NoteWritten"):
    """Version 2 split ``text`` into ``title`` and ``body``."""

    schema_version: ClassVar[int] = 2
    title: str
    body: str


def _split_text(data: dict[str, Any]) -> dict[str, Any]:
    title, _, body = data.pop("text").partition("\n")
    return {**data, "title": title, "body": body}


codec.register(NoteWritten)
codec.register_upcaster("test.codec.NoteWritten", 1, _split_text)


@given(st.text(max_size=30), st.text(max_size=30))
def test_an_old_version_is_upcast(title: str, body: str) -> None:
    title = title.replace("\n", " ")
    v1 = msgspec.json.encode({"text": f"{title}\n{body}"})
    assert codec.decode("test.codec.NoteWritten", v1, 1) == NoteWritten(title=title, body=body)


@given(st.text(max_size=30), st.text(max_size=30))
def test_the_current_version_is_not_upcast(title: str, body: str) -> None:
    event = NoteWritten(title=title, body=body)
    assert round_trip(event) == event


class Ledger(Event, frozen=True, tag="test.codec.Ledger"):
    """Version 2 renamed ``amount`` to ``cents``; version 3 added ``currency``."""

    schema_version: ClassVar[int] = 3
    cents: int
    currency: str


def _rename_amount(data: dict[str, Any]) -> dict[str, Any]:
    return {"cents": data["amount"]}


def _add_currency(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "currency": "CNY"}


class Tally(Event, frozen=True, tag="test.codec.Tally"):
    count: int


class Mark(Event, frozen=True, tag="test.codec.Mark"):
    at: float


codec.register(Ledger)
codec.register_upcaster("test.codec.Ledger", 1, _rename_amount)
codec.register_upcaster("test.codec.Ledger", 2, _add_currency)
codec.register(Tally | Mark)


def test_upcasters_run_in_order_from_the_stored_version() -> None:
    expected = Ledger(cents=5, currency="CNY")
    assert codec.decode("test.codec.Ledger", b'{"amount":5}', 1) == expected
    assert codec.decode("test.codec.Ledger", b'{"cents":5}', 2) == expected
    current = b'{"cents":5,"currency":"EUR"}'
    assert codec.decode("test.codec.Ledger", current, 3) == Ledger(cents=5, currency="EUR")


def test_data_without_a_version_is_taken_as_current() -> None:
    data = b'{"cents":5,"currency":"EUR"}'
    assert codec.decode("test.codec.Ledger", data) == Ledger(cents=5, currency="EUR")
    assert codec.decode("test.codec.Ledger", data, None) == Ledger(cents=5, currency="EUR")


def test_data_from_a_newer_version_is_decoded_as_it_is() -> None:
    data = b'{"cents":5,"currency":"EUR","extra":true}'
    assert codec.decode("test.codec.Ledger", data, 4) == Ledger(cents=5, currency="EUR")


def test_registering_a_union_registers_each_class() -> None:
    for event in (Tally(count=2), Mark(at=1.5)):
        assert round_trip(event) == event


def test_an_unknown_type_names_itself() -> None:
    with pytest.raises(UnknownEventError, match=r"'test\.codec\.Nothing'"):
        codec.decode("test.codec.Nothing", b"{}", 1)


def test_data_that_does_not_fit_its_class_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        codec.decode("test.codec.Tally", b'{"count":"two"}')


def test_metadata_without_a_trace_is_the_system_correlated_to_the_event() -> None:
    written = codec.metadata_for(Ledger(cents=1, currency="CNY"), "e1", None)
    assert msgspec.json.decode(written) == {
        "schema_version": 3,
        "actor": {"kind": "system", "id": "server"},
        "$correlationId": "e1",
        "$causationId": None,
    }
    assert codec.schema_version_of(written) == 3


def test_metadata_within_a_trace_names_its_actor_and_ids() -> None:
    trace = Trace("req-1", Actor("user", 7), "cause-1")
    meta = codec.parse_metadata(codec.metadata_for(Tally(count=1), "e1", trace))
    assert meta == codec.EventMetadata(
        schema_version=1,
        actor=Actor("user", 7),
        correlation_id="req-1",
        causation_id="cause-1",
    )
    anonymous = codec.parse_metadata(codec.metadata_for(Tally(count=1), "e1", Trace("req-2")))
    assert (anonymous.actor, anonymous.correlation_id) == (SYSTEM, "req-2")


def test_stored_metadata_of_any_age_parses() -> None:
    assert codec.parse_metadata(b"") == codec.EventMetadata()
    assert codec.parse_metadata(b'{"schema_version":2}') == codec.EventMetadata(schema_version=2)
    sealed, digest = seal(GENESIS, "T", b"{}", codec.metadata_for(Tally(count=1), "e1", None))
    meta = codec.parse_metadata(sealed)
    assert (meta.prev_hash, meta.hash) == (GENESIS.decode(), digest.decode())


@pytest.mark.parametrize(
    ("metadata", "version"),
    [(None, None), (b"", None), (b"{}", None), (b'{"schema_version":4,"x":1}', 4)],
)
def test_schema_version_of(metadata: bytes | None, version: int | None) -> None:
    assert codec.schema_version_of(metadata) == version


def _stored(event: Event, metadata: bytes) -> RecordedEvent:
    type_name, data = codec.encode(event)
    return RecordedEvent("e1", "notes-1", 0, 1, type_name, data, metadata, 0.0)


def test_a_stored_event_is_upcast_from_the_version_in_its_metadata() -> None:
    v1 = msgspec.json.encode({"text": "title\nbody"})
    rec = RecordedEvent(
        "e1", "notes-1", 0, 1, "test.codec.NoteWritten", v1, b'{"schema_version":1}', 0.0
    )
    assert rec.decode() == NoteWritten(title="title", body="body")
    current = NoteWritten(title="t", body="b")
    assert _stored(current, codec.metadata_for(current, "e1", None)).decode() == current


def test_a_stored_first_version_event_decodes_whatever_its_metadata() -> None:
    codec.register(_NoteV1)
    note = _NoteV1(text="hello")
    for metadata in (b"", b'{"schema_version":1}', codec.metadata_for(note, "e1", None)):
        assert _stored(note, metadata).decode() == note


def test_unknown_stored_types_are_refused_and_not_known() -> None:
    codec.register(_NoteV1)
    assert codec.knows("test.codec.NoteV1")
    assert not codec.knows("NoSuchEvent")
    rec = RecordedEvent("e1", "x-1", 0, 1, "NoSuchEvent", b"{}", b"", 0.0)
    with pytest.raises(UnknownEventError):
        rec.decode()


def test_a_recorded_event_of_a_first_version_type_needs_no_metadata() -> None:
    """Only a type that had older versions reads the version from the metadata."""
    assert codec.decode_recorded("test.codec.Tally", b'{"count":2}', b"") == Tally(count=2)
    assert codec.decode_recorded("test.codec.Tally", b'{"count":2}', b"not json") == Tally(count=2)


def test_a_recorded_event_of_an_older_version_is_upcast_by_its_metadata() -> None:
    stored = codec.decode_recorded("test.codec.Ledger", b'{"amount":5}', b'{"schema_version":1}')
    assert stored == Ledger(cents=5, currency="CNY")
    current = b'{"cents":5,"currency":"EUR"}'
    assert codec.decode_recorded("test.codec.Ledger", current, b"") == Ledger(
        cents=5, currency="EUR"
    )
    with pytest.raises(msgspec.DecodeError):
        codec.decode_recorded("test.codec.Ledger", current, b"not json")
    with pytest.raises(UnknownEventError):
        codec.decode_recorded("test.codec.Nothing", b"{}", b"")
