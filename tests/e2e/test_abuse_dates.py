"""Abuse suite: extreme dates are refused unless they read back as the same ISO 8601 date."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.chat_helpers import group, users
from tests.helpers import API, new_user

OUTSIDE = [
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z",
    "1970-01-01T00:30:00+01:00",  # 1969 in UTC
    "9999-12-31T23:59:59-01:00",  # 10000 in UTC
]


@pytest.mark.parametrize("value", OUTSIDE)
async def test_event_dates_outside_1970_9999_are_refused(
    client: httpx.AsyncClient, value: str
) -> None:
    _, h = await new_user(client)
    body = {"event_type": "custom", "title": "t", "occurred_at": value}
    r = await client.post(f"{API}/events/", json=body, headers=h)
    assert r.status_code == 400, r.text
    assert "1970-01-01 and 9999-12-31" in r.json()["detail"]
    r = await client.get(f"{API}/events/", params={"since": value}, headers=h)
    assert r.status_code == 400
    assert (await client.get(f"{API}/events/", headers=h)).json() == []  # nothing stored


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
        ("2000-01-01T08:00:00+08:00", "2000-01-01T00:00:00.000Z"),
    ],
)
async def test_edge_dates_inside_the_range_read_back_as_themselves(
    client: httpx.AsyncClient, value: str, stored: str
) -> None:
    _, h = await new_user(client)
    body = {"event_type": "custom", "title": "t", "occurred_at": value}
    r = await client.post(f"{API}/events/", json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["occurred_at"] == stored
    listed = (await client.get(f"{API}/events/", headers=h)).json()
    assert [e["occurred_at"] for e in listed] == [stored]


async def test_a_mute_until_year_10000_is_refused(client: httpx.AsyncClient) -> None:
    (_owner, ho), (member, _) = await users(client, 2)
    g = await group(client, ho, [member["id"]])
    url = f"{API}/conversations/{g['id']}/members/{member['id']}"
    body = {"status": "muted", "muted_until": "9999-12-31T23:59:59-05:00"}
    r = await client.put(url, json=body, headers=ho)
    assert r.status_code == 400, r.text
    members = (await client.get(f"{API}/conversations/{g['id']}/members", headers=ho)).json()
    assert {m["user_id"]: m["status"] for m in members}[member["id"]] == "active"
