"""domain/notification_rules.py: what the system notifies about, as pure functions."""

from __future__ import annotations

from domain import notification_rules as rules


def test_mentions_are_standard_ids_not_email_addresses() -> None:
    text = "@Alice hi @bob_2, mail carol@dave.com, @@eve, @alice again, @frank!"
    assert rules.mentioned(text) == ["alice", "bob_2", "frank"]
    assert rules.mentioned("no one") == []
    assert rules.mentioned("@" + "x" * 21) == []


def test_derived_event_ids_are_stable_and_distinct() -> None:
    a = rules.derived_event_id("0190-source", 7)
    assert a == rules.derived_event_id("0190-source", 7)
    assert a != rules.derived_event_id("0190-source", 8)
    assert a != rules.derived_event_id("0190-other", 7)
