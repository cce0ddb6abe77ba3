"""domain/reports.py: validating a reported event (check-in, alarm, custom)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from domain.errors import InvalidError
from domain.reports import (
    MAX_ADDRESS,
    MAX_ATTACHMENTS,
    MAX_BODY,
    MAX_TITLE,
    EventReported,
    decide_report,
    report_stream,
)


def decide(**changes: Any) -> EventReported:
    args: dict[str, Any] = {
        "report_id": 8,
        "reporter_id": 2,
        "event_type": "alarm",
        "title": "Fire",
        "body": "Building B",
        "level": 3,
        "latitude": None,
        "longitude": None,
        "address": None,
        "attachments": [],
        "occurred_at": None,
        "at": 100.0,
    }
    return decide_report(**{**args, **changes})


def test_a_report_is_recorded_as_given() -> None:
    report = decide(latitude=31.2, longitude=121.5, address="Pier 3", occurred_at=90.0)
    assert report == EventReported(
        report_id=8,
        reporter_id=2,
        event_type="alarm",
        title="Fire",
        body="Building B",
        level=3,
        latitude=31.2,
        longitude=121.5,
        address="Pier 3",
        attachments=[],
        occurred_at=90.0,
        at=100.0,
    )
    assert report_stream(8) == "report-8"


def test_it_occurred_when_reported_unless_said_otherwise() -> None:
    assert decide(occurred_at=None).occurred_at == 100.0
    assert decide(occurred_at=0.0).occurred_at == 0.0


def test_attachments_are_deduplicated() -> None:
    files = [f"f{i}" for i in range(MAX_ATTACHMENTS)]
    assert decide(attachments=[*files, "f0", "f1"]).attachments == files


@pytest.mark.parametrize(
    "changes",
    [
        {"event_type": "check_in"},
        {"event_type": "custom"},
        {"title": "t" * MAX_TITLE},
        {"body": "b" * MAX_BODY},
        {"level": 1},
        {"latitude": 90.0, "longitude": 180.0},
        {"latitude": -90.0, "longitude": -180.0},
        {"address": "a" * MAX_ADDRESS},
    ],
)
def test_values_at_the_limits_are_accepted(changes: dict[str, Any]) -> None:
    report = decide(**changes)
    assert all(getattr(report, k) == v for k, v in changes.items())


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"title": ""}, f"title must be 1-{MAX_TITLE} characters"),
        ({"title": " \n"}, f"title must be 1-{MAX_TITLE} characters"),
        ({"latitude": 1.0}, "latitude and longitude must be given together"),
        ({"longitude": 1.0}, "latitude and longitude must be given together"),
    ],
)
def test_refusals(changes: dict[str, Any], detail: str) -> None:
    with pytest.raises(InvalidError, match=re.escape(detail)):
        decide(**changes)
