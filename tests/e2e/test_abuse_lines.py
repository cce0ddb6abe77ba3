"""A membership change's history line survives a crash between the two appends (item 14)."""

from __future__ import annotations

from pathlib import Path

import httpx

from commands.core import append
from commands.event_store.sqlite import SqliteEventStore
from domain import conversations as c
from gateway.app import create_app
from tests.conftest import make_settings
from tests.e2e.chat_helpers import group, users
from tests.helpers import API, wait_until


async def system_lines(c_: httpx.AsyncClient, h: dict[str, str], cid: int) -> list[str]:
    r = await c_.get(f"{API}/messages/conversation/{cid}", headers=h)
    assert r.status_code == 200, r.text
    return [m["content"] for m in r.json() if m["message_type"] == "system"]


async def test_a_line_lost_to_a_crash_is_written_at_the_next_start(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as cl:
            (owner, ho), (bob, _), (dave, _) = await users(cl, 3)
            g = await group(cl, ho, [bob["id"]])
            before = await system_lines(cl, ho, g["id"])
            assert len(before) == 1  # "... created the group"
    # The process dies right after appending a membership change, before its line.
    store = SqliteEventStore(settings.data_path / "events.sqlite3")
    try:
        stream = c.conversation_stream(g["id"])
        version = len(await store.read(stream)) - 1
        added = c.MemberAdded(
            conversation_id=g["id"], user_ids=(dave["id"],), operator_id=owner["id"], seq=1
        )
        await append(store, stream, [added], version)
    finally:
        await store.close()

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as cl:

            async def line_written() -> bool:
                return len(await system_lines(cl, ho, g["id"])) == 2

            await wait_until(line_written)
            lines = await system_lines(cl, ho, g["id"])
            assert lines[0] == before[0]
            assert dave["name"] in lines[1]
            # Changes made normally get one line each, not a second from the follower.
            r = await cl.delete(f"{API}/conversations/{g['id']}/members/{bob['id']}", headers=ho)
            assert r.status_code == 200
            process = app.state.process

            async def followed() -> bool:
                position: int = process.system_lines.position
                head: int = await process.commands.events.head()
                return position >= head

            await wait_until(followed)
            lines = await system_lines(cl, ho, g["id"])
            assert len(lines) == 3, lines
            assert bob["name"] in lines[2]
