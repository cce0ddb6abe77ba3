"""domain/notifications.py: push decisions, quiet hours, preferences, the inbox's status
events (pure)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import notifications as n
from domain.errors import InvalidError
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
        n.Preferences(quiet_hours_start="01:00"),
        n.Preferences(email_frequency="sometimes"),
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
