"""``/events`` through HTTP: reporting check-ins, alarms and custom events, who sees which,
filters, validation, and alarms notifying the superusers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domain.reports import MAX_ADDRESS, MAX_ATTACHMENTS, MAX_BODY, MAX_TITLE
from tests.e2e.notify_helpers import Headers, admin_client, inbox, wait_for_kind
from tests.helpers import API, new_user

E = f"{API}/events"


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Headers]]:
    async with admin_client(tmp_path / "data") as pair:
        yield pair


async def report(c: httpx.AsyncClient, h: Headers, **kw: Any) -> Any:
    body = {"event_type": "check_in", "title": "Arrived", "body": "", "level": 1, **kw}
    r = await c.post(f"{E}/", json=body, headers=h)
    assert r.status_code == 201, r.text
    return r.json()


async def listed(c: httpx.AsyncClient, h: Headers, **params: Any) -> list[int]:
    r = await c.get(f"{E}/", params=params, headers=h)
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()]


async def test_report_and_read_back(env: tuple[httpx.AsyncClient, Headers]) -> None:
    c, _root = env
    a, ha = await new_user(c)
    r = await c.post(
        f"{API}/files/upload", files={"file": ("p.jpg", b"\xff\xd8\xff photo")}, headers=ha
    )
    photo = r.json()["file_id"]
    when = "2026-03-01T08:30:00+08:00"
    made = await report(
        c,
        ha,
        event_type="check_in",
        title="Site A",
        body="All good",
        level=2,
        latitude="31.2304",
        longitude=121.4737,
        address="Shanghai",
        attachments=[photo, photo],
        occurred_at=when,
    )
    assert set(made) == {
        "id", "reporter_id", "event_type", "title", "body", "level", "latitude", "longitude",
        "address", "attachments", "occurred_at", "created_at",
    }  # fmt: skip
    assert made["reporter_id"] == a["id"] and made["level"] == 2
    assert made["latitude"] == 31.2304 and made["longitude"] == 121.4737
    assert made["attachments"] == [photo] and made["occurred_at"] == "2026-03-01T00:30:00.000Z"
    (back,) = (await c.get(f"{E}/", headers=ha)).json()
    assert back == made
    plain = await report(c, ha)
    assert plain["occurred_at"] == plain["created_at"] and plain["latitude"] is None


async def test_who_sees_which_and_filters(env: tuple[httpx.AsyncClient, Headers]) -> None:
    c, root = env
    (a, ha), (b, hb) = await new_user(c), await new_user(c)
    day = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)

    def at(hours: int) -> str:
        return (day + dt.timedelta(hours=hours)).isoformat()

    a1 = await report(c, ha, occurred_at=at(1))
    a2 = await report(c, ha, event_type="custom", title="Note", occurred_at=at(2))
    a3 = await report(c, ha, event_type="custom", title="Later", occurred_at=at(5))
    b1 = await report(c, hb, occurred_at=at(3))
    assert await listed(c, ha) == [a3["id"], a2["id"], a1["id"]]
    assert await listed(c, hb) == [b1["id"]]
    assert await listed(c, root) == [a3["id"], b1["id"], a2["id"], a1["id"]]
    assert await listed(c, ha, reporter_id=a["id"]) == [a3["id"], a2["id"], a1["id"]]
    r = await c.get(f"{E}/", params={"reporter_id": b["id"]}, headers=ha)
    assert r.status_code == 403 and "detail" in r.json()
    assert await listed(c, root, reporter_id=b["id"]) == [b1["id"]]
    assert await listed(c, ha, event_type="custom") == [a3["id"], a2["id"]]
    assert await listed(c, root, since=at(2), until=at(3)) == [b1["id"], a2["id"]]
    assert await listed(c, ha, since="2026-05-01T02:00:00") == [a3["id"], a2["id"]]
    assert await listed(c, ha, skip=1, limit=1) == [a2["id"]]
    for params in (
        {"event_type": "party"},
        {"since": "yesterday"},
        {"limit": 0},
        {"limit": 201},
        {"reporter_id": "me"},
    ):
        r = await c.get(f"{E}/", params=params, headers=ha)
        assert r.status_code == 422, params
    assert (await c.get(f"{E}/")).status_code == 401


async def test_bad_reports_are_4xx(env: tuple[httpx.AsyncClient, Headers]) -> None:
    c, root = env
    _, ha = await new_user(c)
    ok = {"event_type": "custom", "title": "t", "body": "b", "level": 1}
    for bad in (
        {**ok, "event_type": "party"},
        {**ok, "title": ""},
        {**ok, "title": "t" * (MAX_TITLE + 1)},
        {**ok, "body": "b" * (MAX_BODY + 1)},
        {**ok, "address": "a" * (MAX_ADDRESS + 1)},
        {**ok, "attachments": ["0" * 32] * (MAX_ATTACHMENTS + 1)},
        {**ok, "level": 0},
        {**ok, "level": 4},
        {**ok, "latitude": 91, "longitude": 0},
        {**ok, "latitude": 0, "longitude": -181},
        {**ok, "latitude": "north", "longitude": 1},
        {**ok, "latitude": "NaN", "longitude": 1},
        {**ok, "occurred_at": "noon"},
        {**ok, "attachments": [1]},
        {"title": "no type"},
    ):
        r = await c.post(f"{E}/", json=bad, headers=ha)
        assert r.status_code == 422, (bad, r.text)
    r = await c.post(f"{E}/", json={**ok, "latitude": 10}, headers=ha)
    assert r.status_code == 400 and "together" in r.json()["detail"]
    r = await c.post(f"{E}/", json={**ok, "title": " \t"}, headers=ha)
    assert (r.status_code, r.json()["detail"]) == (400, f"title must be 1-{MAX_TITLE} characters")
    r = await c.post(f"{E}/", json={**ok, "attachments": ["0" * 32]}, headers=ha)
    assert r.status_code == 404
    r = await c.post(
        f"{API}/files/upload", files={"file": ("secret.txt", b"root only")}, headers=root
    )
    r = await c.post(f"{E}/", json={**ok, "attachments": [r.json()["file_id"]]}, headers=ha)
    assert r.status_code == 404, "another user's private file is not the reporter's to attach"
    assert (await c.post(f"{E}/", json=ok)).status_code == 401
    assert await listed(c, ha) == []


async def test_alarms_notify_the_superusers(env: tuple[httpx.AsyncClient, Headers]) -> None:
    c, root = env
    a, ha = await new_user(c)
    await report(c, ha, event_type="check_in", title="Fine")
    alarm = await report(
        c,
        ha,
        event_type="alarm",
        title="Smoke in lab 3",
        body="Evacuating",
        level=3,
        latitude=1.5,
        longitude=2.5,
        address="Lab 3",
    )
    (note,) = await wait_for_kind(c, root, "event")
    assert note["priority"] == "high" and "Smoke in lab 3" in note["title"]
    assert a["name"] in note["title"] and note["content"] == "Evacuating"
    assert note["data"]["event_id"] == alarm["id"] and note["data"]["reporter_id"] == a["id"]
    assert note["data"]["level"] == 3 and note["data"]["address"] == "Lab 3"
    assert await inbox(c, ha) == [], "the reporter is not a superuser"
    assert len(await inbox(c, root, type="event")) == 1, "a check-in notifies nobody"
