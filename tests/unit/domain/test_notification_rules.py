"""domain/notification_rules.py: what the system notifies about, as pure functions."""

from __future__ import annotations

import msgspec

from domain import notification_rules as rules
from domain.broadcasts import BroadcastSent
from domain.notifications import Draft
from domain.reports import EventReported


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


BROADCAST = BroadcastSent(
    broadcast_id=4,
    sender_id=1,
    title="Notice",
    content="Body",
    priority="high",
    target_user_ids=[3, 2, 3],
    attachments=["f1"],
)


def test_a_source_names_the_event() -> None:
    assert rules.source_of("MemberAdded", "0190-e") == "MemberAdded:0190-e"


def test_mentions_at_the_edges_of_a_standard_id() -> None:
    assert rules.mentioned("@a") == ["a"]
    assert rules.mentioned("@" + "x" * 20) == ["x" * 20]
    assert rules.mentioned("x@a _@b @c-d (@e)") == ["c", "e"]


def test_a_group_invite() -> None:
    draft = rules.group_invite(7, 5, "Team", 1, "Ann", "MemberAdded:e")
    assert draft == Draft(
        user_id=7,
        title="Added to group Team",
        content="Ann added you to the group Team",
        kind="group_invite",
        data={"conversation_id": 5, "operator_id": 1},
        source="MemberAdded:e",
    )
    assert len(rules.group_invite(7, 5, "g" * 300, 1, "Ann", "s").title) == 200


def test_a_mention_previews_the_message() -> None:
    draft = rules.mention(7, 5, "Team", 9, 1, "Ann", "hi @bo", "MessageSent:e")
    assert draft == Draft(
        user_id=7,
        title="Ann mentioned you in Team",
        content="hi @bo",
        kind="mention",
        data={"conversation_id": 5, "message_id": 9, "sender_id": 1},
        source="MessageSent:e",
    )
    assert rules.mention(7, 5, "T", 9, 1, "A", "x" * 200, "s").content == "x" * 200
    long = rules.mention(7, 5, "T", 9, 1, "A", "x" * 201, "s").content
    assert long == "x" * 199 + "…"


def test_a_broadcast_is_recorded_silently() -> None:
    draft = rules.broadcast(2, BROADCAST, "BroadcastSent:e")
    assert draft == Draft(
        user_id=2,
        title="Notice",
        content="Body",
        kind="broadcast",
        priority="high",
        data={"broadcast_id": 4, "sender_id": 1, "attachments": ["f1"]},
        source="BroadcastSent:e",
        silent=True,
    )
    for priority, expected in (("low", "low"), ("normal", "normal"), ("weird", "normal")):
        event = msgspec.structs.replace(BROADCAST, priority=priority)
        assert rules.broadcast(2, event, "s").priority == expected
    huge = msgspec.structs.replace(BROADCAST, title="t" * 300, content="c" * 6000)
    clipped = rules.broadcast(2, huge, "s")
    assert (len(clipped.title), len(clipped.content)) == (200, 5000)


def test_broadcast_recipients() -> None:
    assert rules.broadcast_recipients(BROADCAST, [1, 2, 3, 4]) == [3, 2]
    everyone = msgspec.structs.replace(BROADCAST, target_user_ids=None)
    assert rules.broadcast_recipients(everyone, [1, 2, 3, 4]) == [2, 3, 4]
    assert rules.broadcast_recipients(everyone, []) == []


def test_an_alarm() -> None:
    report = EventReported(
        report_id=8,
        reporter_id=2,
        event_type="alarm",
        title="Fire",
        body="Building B",
        level=3,
        latitude=1.0,
        longitude=2.0,
        address="here",
    )
    draft = rules.alarm(7, report, "Ann", "EventReported:e")
    assert draft == Draft(
        user_id=7,
        title="Alarm from Ann: Fire",
        content="Building B",
        kind="event",
        priority="high",
        data={
            "event_id": 8,
            "event_type": "alarm",
            "reporter_id": 2,
            "level": 3,
            "latitude": 1.0,
            "longitude": 2.0,
            "address": "here",
        },
        source="EventReported:e",
    )
    untitled = rules.alarm(7, msgspec.structs.replace(report, body=""), "Ann", "s")
    assert untitled.content == "Fire"
    long = rules.alarm(7, msgspec.structs.replace(report, title="t" * 300), "Ann", "s")
    assert long.title == ("Alarm from Ann: " + "t" * 300)[:200]
