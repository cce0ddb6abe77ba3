"""The command side of the split decides from the event store and its own state, never from a
read model that lags, and a committed write never answers 5xx (issue 11, items 5 and 9)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import API, ServerProcess, new_user
from tests.ws import live


def _projector(data: Path) -> ServerProcess:
    projector = ServerProcess(data, command="projector")
    projector.proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "projector"],
        env=projector.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return projector


@pytest.fixture
def commands_alone(tmp_path: Path) -> Iterator[ServerProcess]:
    """A command process whose projector is stopped: the read side never catches up."""
    proc = ServerProcess(tmp_path / "data", command="commands", IM_READ_WAIT_SECONDS="0.5")
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


async def test_creations_answer_from_the_command_side(commands_alone: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=commands_alone.url, timeout=30) as w:
        (a, ha), (b, _) = await new_user(w), await new_user(w)
        body = {"name": "no projector", "member_ids": [b["id"]]}
        group = await w.post(f"{API}/conversations/group", json=body, headers=ha)
        assert group.status_code == 201, group.text
        view = group.json()
        assert (view["name"], view["type"], view["member_count"]) == ("no projector", "group", 2)
        assert {p["id"] for p in view["participants"]} == {a["id"], b["id"]}
        assert view["creator_id"] == a["id"]
        assert view["unread_count"] == 0
        assert view["last_message"]["message_type"] == "system"
        assert int(group.headers["X-Event-Position"]) > 0

        single = await w.post(
            f"{API}/conversations/single", json={"target_user_id": b["id"]}, headers=ha
        )
        assert single.status_code == 201, single.text
        assert single.json()["type"] == "single"
        assert single.json()["name"] == b["name"]  # the other person, as the read side shows
        again = await w.post(
            f"{API}/conversations/single", json={"target_user_id": b["id"]}, headers=ha
        )
        assert again.status_code == 200, again.text
        assert again.json()["id"] == single.json()["id"]

        cid = view["id"]
        member = await w.put(
            f"{API}/conversations/{cid}/members/{b['id']}", json={"nickname": "bee"}, headers=ha
        )
        assert member.status_code == 200, member.text
        assert member.json()["nickname"] == "bee"
        sent = await w.post(
            f"{API}/messages/text", json={"conversation_id": cid, "content": "hi"}, headers=ha
        )
        assert sent.status_code == 201, sent.text


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    data = tmp_path / "data"
    projector = _projector(data)
    procs = [ServerProcess(data, command=c) for c in ("commands", "queries")]
    try:
        for p in procs:
            p.start()
        yield procs[0], procs[1]
    finally:
        for p in [*procs, projector]:
            p.stop()


async def test_commands_decide_right_after_their_own_writes(
    split: tuple[ServerProcess, ServerProcess],
) -> None:
    """No ``X-Min-Position`` at all: a command that would refuse for want of something in the
    read models first lets them catch up with the event store."""
    commands, queries = split
    async with (
        httpx.AsyncClient(base_url=commands.url, timeout=30) as w,
        httpx.AsyncClient(base_url=queries.url, timeout=30) as r,
    ):
        (_, ha), (b, hb) = await new_user(w), await new_user(w)
        body = {"name": "fast", "member_ids": [b["id"]]}
        created = await w.post(f"{API}/conversations/group", json=body, headers=ha)
        assert created.status_code == 201, created.text
        cid = created.json()["id"]
        token_b = hb["Authorization"].removeprefix("Bearer ")
        async with live(queries.url, token_b, since=created.headers["X-Event-Position"]) as wb:
            for round_ in range(5):
                first = await w.post(
                    f"{API}/messages/text",
                    json={"conversation_id": cid, "content": f"first {round_}"},
                    headers=ha,
                )
                assert first.status_code == 201, first.text
                mid = first.json()["id"]
                reply = await w.post(
                    f"{API}/messages/text",
                    json={"conversation_id": cid, "content": "re", "reply_to_id": mid},
                    headers=ha,
                )
                assert reply.status_code == 201, reply.text
                edited = await w.put(f"{API}/messages/{mid}", json={"content": "e"}, headers=ha)
                assert edited.status_code == 200, edited.text
                assert edited.json()["content"] == "e"
                recalled = await w.post(f"{API}/messages/{reply.json()['id']}/recall", headers=ha)
                assert recalled.status_code == 200, recalled.text
                assert recalled.json()["status"] == "recalled"
                up = await w.post(
                    f"{API}/files/upload", files={"file": ("a.txt", b"hello")}, headers=ha
                )
                assert up.status_code == 201, up.text
                fm = await w.post(
                    f"{API}/messages/file",
                    json={"conversation_id": cid, "file_id": up.json()["file_id"]},
                    headers=ha,
                )
                assert fm.status_code == 201, fm.text
                read = await w.post(
                    f"{API}/messages/mark-read",
                    json={"conversation_id": cid, "message_id": fm.json()["id"]},
                    headers=hb,
                )
                assert read.status_code == 204, read.text
                frame = await wb.expect(
                    "mark_read",
                    skip=(
                        "new_message",
                        "message_edited",
                        "message_recalled",
                        "notification_created",
                        "user_status_changed",
                    ),
                )
                assert frame["data"]["seq"] == fm.json()["seq"]
        assert (await r.get(f"{API}/conversations/{cid}", headers=hb)).status_code == 200
