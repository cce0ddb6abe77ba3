"""Each projection's ``handles`` (the events the projector calls it for) leaves out only events
its ``handle`` turns into no ops, so skipping them changes no read model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from domain import codec
from domain.codec import DomainEvent
from domain.events import Event, event_classes
from domain.store import RecordedEvent
from projections.registry import all_projections
from projections.runtime import Projection
from tests.unit.domain.test_codec import events_of

PROJECTIONS = all_projections()


def recorded(event: Event) -> RecordedEvent:
    type_name, data = codec.encode(event)
    return RecordedEvent("e1", "s-1", 0, 1, type_name, data, b"", 0.0)


def test_every_projection_declares_what_it_handles() -> None:
    for p in PROJECTIONS:
        handles = getattr(p, "handles", None)
        assert handles, p.name
        assert handles <= {cls.type_name() for cls in event_classes(DomainEvent)}, p.name


LEFT_OUT = [
    pytest.param(p, cls, id=f"{p.name}-{cls.type_name()}")
    for p in PROJECTIONS
    for cls in event_classes(DomainEvent)
    if cls.type_name() not in getattr(p, "handles", frozenset())
]


@pytest.mark.parametrize(("p", "cls"), LEFT_OUT)
def test_events_left_out_give_no_ops(p: Projection, cls: type[Event]) -> None:
    @settings(max_examples=10, deadline=None)
    @given(events_of(cls))
    def check(event: Event) -> None:
        assert p.handle(event, recorded(event)) == []

    check()
