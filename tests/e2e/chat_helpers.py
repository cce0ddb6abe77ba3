"""Helpers for the chat end-to-end tests: users, groups and messages through HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers import API, new_user

Headers = dict[str, str]


async def users(client: httpx.AsyncClient, n: int) -> list[tuple[Any, Headers]]:
    return [await new_user(client) for _ in range(n)]


async def group(
    client: httpx.AsyncClient, owner: Headers, member_ids: list[int], **settings: Any
) -> Any:
    body = {"name": settings.pop("name", "Team"), "member_ids": member_ids, **settings}
    r = await client.post(f"{API}/conversations/group", json=body, headers=owner)
    assert r.status_code == 201, r.text
    return r.json()


async def send(
    client: httpx.AsyncClient, h: Headers, cid: int, content: str = "hello", **kw: Any
) -> httpx.Response:
    body = {"conversation_id": cid, "content": content, **kw}
    return await client.post(f"{API}/messages/text", json=body, headers=h)


async def sent(client: httpx.AsyncClient, h: Headers, cid: int, content: str = "hi") -> Any:
    r = await send(client, h, cid, content)
    assert r.status_code == 201, r.text
    return r.json()


async def history(client: httpx.AsyncClient, h: Headers, cid: int, **params: Any) -> Any:
    r = await client.get(f"{API}/messages/conversation/{cid}", params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()


async def conversation(client: httpx.AsyncClient, h: Headers, cid: int) -> Any:
    r = await client.get(f"{API}/conversations/{cid}", headers=h)
    assert r.status_code == 200, r.text
    return r.json()
