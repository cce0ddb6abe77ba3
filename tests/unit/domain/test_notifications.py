"""domain/notifications.py: push decisions, quiet hours, preferences, the inbox's status
events (pure)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import notifications as n
from domain.errors import InvalidError, NotFoundError
from domain.store import RecordedEvent
from projections.notifications import NotificationsProjection


def at_utc(hhmm: str) -> float:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2026, 6, 1, h, m, 30, tzinfo=dt.UTC).timestamp()


def test_push_follows_the_preferences() -> None:
    noon = at_utc("12:00")
    assert n.should_push(n.Preferences(), "system", noon)
    for prefs in (n.Preferences(websocket_enabled=False), n.Preferences(do_not_disturb=True)):
        assert not n.should_push(prefs, "system", noon)
    assert not n.should_push(n.Preferences(message_enabled=False), "message", noon)
    assert n.should_push(n.Preferences(message_enabled=False), "mention", noon)
    assert not n.should_push(n.Preferences(group_message_enabled=False), "mention", noon)
    assert not n.should_push(n.Preferences(), "system", noon, scheduled_at=noon + 60)
    assert n.should_push(n.Preferences(), "system", noon, scheduled_at=noon - 60)


def test_quiet_hours_wrap_midnight_and_use_the_timezone() -> None:
    night = n.Preferences(quiet_hours_start="22:00", quiet_hours_end="07:00")
    assert n.in_quiet_hours(night, at_utc("23:30")) and n.in_quiet_hours(night, at_utc("06:59"))
    assert not n.in_quiet_hours(night, at_utc("07:00")) and not n.in_quiet_hours(
        night, at_utc("12:00")
    )
    assert not n.should_push(night, "system", at_utc("22:00"))
    shanghai = n.Preferences(
        quiet_hours_start="22:00", quiet_hours_end="07:00", timezone="Asia/Shanghai"
    )
    assert n.in_quiet_hours(shanghai, at_utc("15:00"))  # 23:00 in Shanghai
    assert not n.in_quiet_hours(shanghai, at_utc("23:30"))  # 07:30 there
    assert not n.in_quiet_hours(
        n.Preferences(quiet_hours_start="08:00", quiet_hours_end="08:00"), at_utc("08:00")
    )


@given(st.integers(0, 1439), st.integers(0, 1439), st.integers(0, 1439))
def test_quiet_hours_match_a_minute_set_model(start: int, end: int, now: int) -> None:
    prefs = n.Preferences(
        quiet_hours_start=f"{start // 60:02d}:{start % 60:02d}",
        quiet_hours_end=f"{end // 60:02d}:{end % 60:02d}",
    )
    quiet = set()
    minute = start
    while minute != end:
        quiet.add(minute)
        minute = (minute + 1) % 1440
    assert n.in_quiet_hours(prefs, at_utc(f"{now // 60:02d}:{now % 60:02d}")) == (now in quiet)


def test_preferences_validation() -> None:
    n.validate_preferences(n.Preferences(quiet_hours_start="00:00", quiet_hours_end="23:59"))
    for bad in (
        n.Preferences(quiet_hours_start="24:00", quiet_hours_end="01:00"),
        n.Preferences(quiet_hours_start="01:00\n", quiet_hours_end="02:00"),
        n.Preferences(quiet_hours_start="01:00"),
        n.Preferences(timezone="Nowhere/Special"),
        n.Preferences(timezone="../../etc/passwd"),
    ):
        with pytest.raises(InvalidError):
            n.validate_preferences(bad)


def test_status_events_are_chunked_and_only_for_changes() -> None:
    inbox = n.Inbox(items={})
    for i in range(1, 1202):
        n.evolve(
            inbox,
            n.NotificationCreated(notification_id=i, user_id=1, title="t", content="", at=1.0),
        )
    events = n.decide_status(inbox, 1, None, True, at=2.0)
    assert [len(e.notification_ids) for e in events] == [500, 500, 201]  # type: ignore[attr-defined]
    for e in events:
        n.evolve(inbox, e)
    assert n.decide_status(inbox, 1, None, True, at=3.0) == []
    assert n.decide_status(inbox, 1, [5, 5, 99999], False, at=3.0)[0].notification_ids == [5]  # type: ignore[attr-defined]
    projection = NotificationsProjection()
    rec = RecordedEvent("id", "notifications-1", 0, 1, "NotificationsRead", b"", b"", 0.0)
    assert all(len(projection.handle(e, rec)) < 1024 for e in events)
    (deleted,) = n.decide_delete(inbox, 1, [1, 2, 424242], at=4.0)
    assert deleted.notification_ids == [1, 2]  # type: ignore[attr-defined]


def test_scheduled_notifications_are_not_marked_by_all_before_they_show() -> None:
    inbox = n.Inbox(items={})
    n.evolve(
        inbox, n.NotificationCreated(notification_id=1, user_id=1, title="t", content="", at=1.0)
    )
    n.evolve(
        inbox,
        n.NotificationCreated(
            notification_id=2, user_id=1, title="t", content="", at=1.0, scheduled_at=100.0
        ),
    )
    (event,) = n.decide_status(inbox, 1, None, True, at=50.0)
    assert event.notification_ids == [1]  # type: ignore[attr-defined]


def created(nid: int, at: float = 1.0, scheduled_at: float | None = None) -> n.NotificationCreated:
    return n.NotificationCreated(
        notification_id=nid, user_id=1, title="t", content="", at=at, scheduled_at=scheduled_at
    )


def inbox(*events: n.NotificationEvent) -> n.Inbox:
    state = n.Inbox(items={})
    for event in events:
        state = n.evolve(state, event)
    return state


def test_streams() -> None:
    assert n.notifications_stream(4) == "notifications-4"
    assert n.preferences_stream(4) == "notifprefs-4"


def test_a_draft_within_the_limits() -> None:
    draft = n.Draft(user_id=1, title="t" * n.MAX_TITLE, content="c" * n.MAX_CONTENT)
    assert n.validate_draft(draft) is draft
    fits = {"k": "x" * (n.MAX_DATA_BYTES - 8)}  # {"k":"…"} is 8 bytes more
    assert n.validate_draft(n.Draft(user_id=1, title="t", content="", data=fits)).data == fits


@pytest.mark.parametrize(
    ("draft", "detail"),
    [
        (n.Draft(user_id=1, title="", content=""), "title must be 1-200 characters"),
        (n.Draft(user_id=1, title="  ", content=""), "title must be 1-200 characters"),
        (n.Draft(user_id=1, title="t" * 201, content=""), "title must be 1-200 characters"),
        (n.Draft(user_id=1, title="t", content="c" * 5001), "content must be at most 5000"),
        (
            n.Draft(user_id=1, title="t", content="", data={"k": "x" * (n.MAX_DATA_BYTES - 7)}),
            "data must encode to at most 16384 bytes",
        ),
    ],
)
def test_drafts_refused(draft: n.Draft, detail: str) -> None:
    with pytest.raises(InvalidError, match=detail):
        n.validate_draft(draft)


def test_a_due_notification_is_pushed_as_the_one_created() -> None:
    due = n.NotificationDue(
        notification_id=3,
        user_id=1,
        title="t",
        content="c",
        kind="event",
        priority="high",
        data={"a": 1},
        scheduled_at=50.0,
        created_at=10.0,
        push=False,
        at=50.0,
    )
    assert due.as_created() == n.NotificationCreated(
        notification_id=3,
        user_id=1,
        title="t",
        content="c",
        kind="event",
        priority="high",
        data={"a": 1},
        scheduled_at=50.0,
        at=10.0,
    )


def test_a_due_event_has_one_id_per_notification() -> None:
    assert n.due_event_id(3) == n.due_event_id(3) != n.due_event_id(4)
    assert uuid.UUID(n.due_event_id(3)).version == 5


def test_the_inbox_follows_its_events() -> None:
    state = inbox(created(1, at=5.0), created(2, at=5.0, scheduled_at=90.0), created(3))
    assert state.items == {1: (False, 5.0), 2: (False, 90.0), 3: (False, 1.0)}
    state = n.evolve(state, n.NotificationsRead(user_id=1, notification_ids=[1, 2, 404]))
    assert state.items == {1: (True, 5.0), 2: (True, 90.0), 3: (False, 1.0)}
    state = n.evolve(state, n.NotificationsUnread(user_id=1, notification_ids=[2, 404]))
    assert state.items == {1: (True, 5.0), 2: (False, 90.0), 3: (False, 1.0)}
    state = n.evolve(state, n.NotificationsDeleted(user_id=1, notification_ids=[1, 404]))
    assert state.items == {2: (False, 90.0), 3: (False, 1.0)}


def test_a_scheduled_time_in_the_past_shows_at_creation() -> None:
    assert inbox(created(1, at=50.0, scheduled_at=10.0)).items == {1: (False, 50.0)}


def test_events_that_change_no_inbox() -> None:
    state = inbox(created(1))
    before = dict(state.items)
    due = n.NotificationDue(notification_id=1, user_id=1, title="t", content="")
    assert n.evolve(state, due).items == before
    prefs = n.PreferencesChanged(user_id=1, preferences=n.Preferences())
    assert n.evolve(state, prefs) is state and state.items == before


def test_owned_splits_and_deduplicates_in_order() -> None:
    state = inbox(created(1), created(2), created(3))
    assert n.owned(state, [3, 9, 1, 3, 8, 9]) == ([3, 1], [9, 8])
    assert n.owned(state, []) == ([], [])


def test_require_owned() -> None:
    n.require_owned(inbox(created(1)), 1)
    with pytest.raises(NotFoundError, match="Notification not found"):
        n.require_owned(inbox(created(1)), 2)


def test_marking_unread_changes_only_read_ones() -> None:
    state = inbox(created(1), created(2), created(3))
    state = n.evolve(state, n.NotificationsRead(user_id=1, notification_ids=[1, 2]))
    assert n.decide_status(state, 1, [2, 3], False, at=5.0) == [
        n.NotificationsUnread(user_id=1, notification_ids=[2], at=5.0)
    ]
    assert n.decide_status(state, 1, None, False, at=5.0) == [
        n.NotificationsUnread(user_id=1, notification_ids=[1, 2], at=5.0)
    ]
    assert n.decide_status(state, 1, [3], False, at=5.0) == []
    assert n.decide_status(state, 1, [], True, at=5.0) == []


def test_mark_all_includes_what_shows_at_that_very_moment() -> None:
    state = inbox(created(1, at=1.0, scheduled_at=50.0))
    assert n.decide_status(state, 1, None, True, at=49.9) == []
    assert n.decide_status(state, 1, None, True, at=50.0) == [
        n.NotificationsRead(user_id=1, notification_ids=[1], at=50.0)
    ]


def test_deletion_is_chunked_and_only_of_owned_ones() -> None:
    state = inbox(*(created(i) for i in range(1, 1002)))
    events = n.decide_delete(state, 1, [*range(1, 1002), 5000], at=3.0)
    assert [len(e.notification_ids) for e in events] == [500, 500, 1]  # type: ignore[attr-defined]
    assert [i for e in events for i in e.notification_ids] == list(range(1, 1002))  # type: ignore[attr-defined]
    assert n.decide_delete(state, 1, [5000], at=3.0) == []


def test_default_preferences_are_valid() -> None:
    prefs = n.Preferences()
    assert n.validate_preferences(prefs) is prefs
    shanghai = n.Preferences(timezone="Asia/Shanghai", email_frequency="weekly")
    assert n.validate_preferences(shanghai) is shanghai


@pytest.mark.parametrize(
    ("prefs", "detail"),
    [
        (n.Preferences(quiet_hours_start="7:00", quiet_hours_end="08:00"), "quiet_hours_start"),
        (n.Preferences(quiet_hours_start="07:00", quiet_hours_end="08:60"), "quiet_hours_end"),
        (n.Preferences(quiet_hours_end="08:00"), "must be set together"),
        (n.Preferences(quiet_hours_start="08:00"), "must be set together"),
        (n.Preferences(timezone=""), "Unknown timezone"),
    ],
)
def test_preferences_refused(prefs: n.Preferences, detail: str) -> None:
    with pytest.raises(InvalidError, match=detail):
        n.validate_preferences(prefs)


def test_push_for_a_notification_scheduled_for_now() -> None:
    noon = at_utc("12:00")
    assert n.should_push(n.Preferences(), "system", noon, scheduled_at=noon)
    assert not n.should_push(n.Preferences(), "system", noon, scheduled_at=noon + 0.001)


def test_no_quiet_hours_without_both_ends() -> None:
    assert not n.in_quiet_hours(n.Preferences(), at_utc("03:00"))
    assert not n.in_quiet_hours(n.Preferences(quiet_hours_start="00:00"), at_utc("03:00"))
