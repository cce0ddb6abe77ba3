"""domain/events.py: reading unions of event classes."""

from __future__ import annotations

import pytest

from domain import conversations as c
from domain import users as u
from domain.events import event_classes, type_names


def test_a_union_lists_its_classes_in_order() -> None:
    assert event_classes(c.MessageEvent) == (
        c.MessageSent,
        c.MessageEdited,
        c.MessageRecalled,
        c.ReadMarked,
    )


def test_a_single_class_is_a_union_of_one() -> None:
    assert event_classes(u.StandardIdEvent) == (u.StandardIdClaimed,)


def test_nested_unions_are_flattened() -> None:
    both = c.ConversationEvent | c.MessageEvent
    assert set(event_classes(both)) == {
        *event_classes(c.ConversationEvent),
        *event_classes(c.MessageEvent),
    }


def test_type_names_are_the_stored_tags() -> None:
    assert type_names(c.MessageEvent) == {
        "MessageSent",
        "MessageEdited",
        "MessageRecalled",
        "ReadMarked",
    }
    assert type_names(u.UserEvent) == {cls.type_name() for cls in event_classes(u.UserEvent)}


def test_only_event_classes_make_a_union() -> None:
    with pytest.raises(TypeError):
        event_classes(int | str)


def test_an_events_type_name_is_its_tag_and_it_starts_at_version_one() -> None:
    assert c.MessageSent.type_name() == "MessageSent"
    assert u.StandardIdClaimed.type_name() == "StandardIdClaimed"
    assert c.MessageSent.schema_version == 1


def test_a_union_of_one_class_names_one_type() -> None:
    assert type_names(u.StandardIdEvent) == {"StandardIdClaimed"}
